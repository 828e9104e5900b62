package passkeys

import (
	"testing"

	"github.com/authsvc/authsvc/internal/browsertest"
)

// Without Chromium the package runs no test, and says so.
func TestMain(m *testing.M) { browsertest.Main(m, "clients/passkeys") }
