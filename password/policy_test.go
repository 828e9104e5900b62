package password

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name       string
		minScore   int
		pw         string
		inputs     []string
		wantReason string // substring; empty means the password is accepted
	}{
		{"7 characters", 0, "abcdefg", nil, "at least 8 characters"},
		{"8 characters", 0, "abcdefgh", nil, ""},
		{"128 characters", 0, strings.Repeat("x", 128), nil, ""},
		{"129 characters", 0, strings.Repeat("x", 129), nil, "at most 128 characters"},
		{"runes not bytes: 8", 0, strings.Repeat("é", 8), nil, ""},
		{"runes not bytes: 7", 0, strings.Repeat("é", 7), nil, "at least 8 characters"},
		{"runes not bytes: 128", 0, strings.Repeat("é", 128), nil, ""},
		{"length applies with a score too", 3, "Xq7#vL2", nil, "at least 8 characters"},
		{"min score 0 skips zxcvbn", 0, "aaaaaaaa", nil, ""},
		{"common password", 3, "password123", nil, "too easy to guess"},
		{"repeated characters", 1, "aaaaaaaaaaaa", nil, "repeated characters"},
		{"keyboard pattern", 3, "zxcvbnm,./", nil, "keyboard pattern"},
		{"date", 3, "12/05/1987x", nil, "date"},
		{"name", 3, "jessica1", nil, "common name"},
		{"sequence", 3, "abcdefghijklm", nil, "sequence"},
		{"common word", 3, "sunshine", nil, "common"},
		{"random-ish passphrase", 3, "Tangerine-Viaduct-47-Oblong", nil, ""},
		{"random characters", 4, "vJ7#qLm2!xR9pZ", nil, ""},
		{"username", 3, "marvin42marvin42!", []string{"marvin42", "marvin@example.com"}, "username"},
		{"email local part", 3, "alice2024!", []string{"alice@example.com"}, "username"},
		{"empty inputs ignored", 3, "Tangerine-Viaduct-47-Oblong", []string{"", "  "}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Policy{MinScore: tt.minScore}.Check(tt.pw, tt.inputs...)
			if tt.wantReason == "" {
				if err != nil {
					t.Errorf("Check(%q) = %v, want nil", tt.pw, err)
				}
				return
			}
			var perr *PolicyError
			if !errors.As(err, &perr) {
				t.Fatalf("Check(%q) = %v, want a *PolicyError", tt.pw, err)
			}
			if !strings.Contains(perr.Reason, tt.wantReason) {
				t.Errorf("Check(%q) reason = %q, want it to mention %q", tt.pw, perr.Reason, tt.wantReason)
			}
			if strings.Contains(perr.Reason, tt.pw) {
				t.Errorf("reason %q contains the password", perr.Reason)
			}
			if perr.Error() != perr.Reason {
				t.Errorf("Error() = %q, want the reason %q", perr.Error(), perr.Reason)
			}
		})
	}
}

func TestExpandInputs(t *testing.T) {
	got := expandInputs([]string{"Alice.Smith@Example.co.uk", "", "alice", "marvin42"})
	want := []string{"alice.smith@example.co.uk", "alice.smith", "example.co.uk", "alice", "smith", "example", "marvin42", "marvin"}
	if !slices.Equal(got, want) {
		t.Errorf("expandInputs = %q, want %q", got, want)
	}
}

// BenchmarkCheck measures the slowest inputs found for zxcvbn-go. Each
// should stay around 20 ms or less (unbounded, "leet" took ~7 s).
func BenchmarkCheck(b *testing.B) {
	inputs := []string{"alice@example.com", "alice"}
	cases := map[string]string{
		"mixed":      strings.Repeat("Tr0ub4dor&3-horse!", 8)[:128],
		"repeat":     strings.Repeat("a", 128),
		"words":      strings.Repeat("passwordmonkeydragon", 7)[:128],
		"leet":       strings.Repeat("4@8({[<3691!|70$5+%2", 7)[:128],
		"leet-few":   strings.Repeat("p@ssw0rd{(", 13)[:128],
		"digits":     strings.Repeat("1234567890", 13)[:128],
		"dates":      strings.Repeat("12/12/1990-", 12)[:128],
		"keyboard":   strings.Repeat("qwe!", 32),
		"multi-byte": strings.Repeat("😀é", 64),
		"worst-found": "555@51$@((5$4$@@@(415(@1<54$$4<5$114(<14@(4(@@(4" +
			strings.Repeat("x", 80),
	}
	for name, pw := range cases {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = Policy{MinScore: 3}.Check(pw, inputs...)
			}
		})
	}
}
