package accounts

import "testing"

// A provider's names become valid usernames (handlers' pattern:
// [A-Za-z0-9._-]{3,32}), with room for a "-N" suffix, or nothing.
func TestUsernameBase(t *testing.T) {
	for in, want := range map[string]string{
		"ada":          "ada",
		"Ada Lovelace": "ada-lovelace",
		"ada+tag":      "ada-tag",
		"-.ada_":       "ada",
		"al":           "user-al",
		"Zoë":          "user-zo",
		"日本":           "",
		"":             "",
		"a-very-long-name-from-github-enterprise": "a-very-long-name-from-gi",
		"....": "",
	} {
		got := usernameBase(in)
		if got != want {
			t.Errorf("usernameBase(%q) = %q; want %q", in, got, want)
		}
		if got != "" && (len(got) < 3 || len(got) > 24) {
			t.Errorf("usernameBase(%q) = %q: not 3 to 24 characters", in, got)
		}
	}
}
