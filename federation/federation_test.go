package federation

import (
	"encoding/json"
	"testing"
)

// email_verified is a boolean, but Apple (and some others) send the string "true".
func TestTrueClaim(t *testing.T) {
	for raw, want := range map[string]bool{
		`true`: true, `"true"`: true, `false`: false, `"false"`: false, `"yes"`: false, `1`: false, `null`: false, ``: false,
	} {
		if got := trueClaim(json.RawMessage(raw)); got != want {
			t.Errorf("trueClaim(%s) = %v; want %v", raw, got, want)
		}
	}
}
