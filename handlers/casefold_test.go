package handlers_test

import (
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestNonASCIICaseIsOneAddress: both databases agree that Émile@ and émile@
// are one address, for signup and for login.
func TestNonASCIICaseIsOneAddress(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		signup := func(email, username string) *apitest.Response {
			return e.Request("POST", "/v1/auth/signup", map[string]any{"email": email, "username": username, "password": apitest.StrongPassword})
		}
		signup("Émile@example.com", "emile").Expect(201)
		signup("émile@example.com", "emile2").ExpectProblem(409, "email_taken")
		e.Login("ÉMILE@example.com", apitest.StrongPassword)
		e.Login("émile@EXAMPLE.com", apitest.StrongPassword)
	})
}
