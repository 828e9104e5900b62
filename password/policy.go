package password

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go/adjacency"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/matching"
	"github.com/ccojocar/zxcvbn-go/scoring"
)

// Length limits, in Unicode characters (runes). The maximum keeps hashing
// and strength checks cheap.
const (
	MinLength = 8
	MaxLength = 128
)

// zxcvbn's matching grows quadratically with length, and its l33t matcher
// re-runs every dictionary once per combination of substitutions present.
// Unbounded, a crafted 128-character password took ~7 s of CPU. These limits
// keep the worst case found to about 20 ms (see BenchmarkCheck).
const (
	// Only this many runes are scored. Later characters would add guesses,
	// so this errs on the strict side, and a password whose first 48
	// characters are easy to guess is a poor one anyway.
	maxScoredRunes = 48
	// Above this many substitution combinations the l33t matcher is skipped.
	// Real leetspeak needs a few ("P@$$w0rd1971!" needs 16); more means
	// crafted input, which already has plenty of symbols.
	maxLeetCombinations = 16
)

// Policy decides whether a new password is acceptable.
type Policy struct {
	// MinScore is the lowest acceptable zxcvbn score, 0..4. Zero checks the
	// length only.
	MinScore int
}

// PolicyError says why a password was rejected. Reason is meant for the API
// client and never contains the password.
type PolicyError struct {
	Reason string
}

func (e *PolicyError) Error() string { return e.Reason }

// Check returns a *PolicyError if pw breaks the policy, or nil. userInputs
// are the user's own details (email, username, names), which make a password
// easy to guess for anyone who knows them.
func (p Policy) Check(pw string, userInputs ...string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinLength:
		return &PolicyError{Reason: fmt.Sprintf("must be at least %d characters", MinLength)}
	case n > MaxLength:
		return &PolicyError{Reason: fmt.Sprintf("must be at most %d characters", MaxLength)}
	}
	if p.MinScore <= 0 {
		return nil
	}
	res := strength(pw, expandInputs(userInputs))
	if res.Score >= p.MinScore {
		return nil
	}
	return &PolicyError{Reason: "is too easy to guess: " + explain(res.MatchSequence)}
}

// strength is zxcvbn.PasswordStrength with the work bounded (see above) and
// date matches repaired so explain can name them.
func strength(pw string, userInputs []string) scoring.MinEntropyMatch {
	if r := []rune(pw); len(r) > maxScoredRunes {
		pw = string(r[:maxScoredRunes])
	}
	var filters []func(match.Matcher) bool
	if leetCombinations(pw) > maxLeetCombinations {
		filters = append(filters, matching.FilterL33tMatcher)
	}
	matches := matching.Omnimatch(pw, userInputs, filters...)
	for i := range matches {
		// The date matchers leave Pattern empty and set J one past the end
		// (zxcvbn-go v1.0.4), which hides them from the match sequence.
		if matches[i].Pattern == "" && matches[i].DictionaryName == "date_match" {
			matches[i].Pattern = "date"
			matches[i].J--
		}
	}
	return scoring.MinimumEntropyMatchSequence(pw, matches)
}

// leetCombinations bounds how many substituted variants of pw the l33t
// matcher will try: the product, over letters, of how many of its
// substitutes occur in pw, times the readings of ambiguous substitutes
// ("1" may stand for "i" or "l").
func leetCombinations(pw string) int {
	n := 1
	readings := make(map[string]int)
	for _, subs := range adjacency.GraphMap["l33t"].Graph {
		found := 0
		for _, s := range subs {
			if strings.Contains(pw, s) {
				found++
				readings[s]++
			}
		}
		n *= max(found, 1)
	}
	for _, r := range readings {
		n *= r
	}
	return n
}

// expandInputs drops empty inputs and adds their parts, so that "alice"
// from "alice.smith@example.com" is caught in "alice2024" too (zxcvbn only
// matches whole inputs).
func expandInputs(inputs []string) []string {
	var out []string
	seen := make(map[string]bool)
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, in := range inputs {
		add(in)
		if local, domain, ok := strings.Cut(in, "@"); ok {
			add(local)
			add(domain)
		}
		for _, part := range strings.FieldsFunc(in, func(r rune) bool { return !unicode.IsLetter(r) }) {
			// Shorter parts ("co", "uk") would match by accident.
			if utf8.RuneCountInString(part) >= 3 {
				add(part)
			}
		}
	}
	return out
}

// explain turns zxcvbn's match sequence into a short reason. zxcvbn-go gives
// no feedback text of its own, so we name the pattern covering most of the
// password, but always mention the user's own details when they were used.
func explain(seq []match.Match) string {
	var best *match.Match
	for i := range seq {
		m := &seq[i]
		if m.Pattern == "bruteforce" {
			continue
		}
		if m.DictionaryName == "user_inputs" {
			best = m
			break
		}
		if best == nil || m.J-m.I > best.J-best.I {
			best = m
		}
	}
	if best == nil {
		return "it is too short for the characters it uses; add another word or two"
	}
	switch best.Pattern {
	case "dictionary":
		switch best.DictionaryName {
		case "user_inputs":
			return "it is based on your name, username or email address"
		case "Passwords":
			return "it is a commonly used password"
		case "MaleNames", "FemaleNames", "Surname":
			return "it contains a common name"
		}
		return "it contains a common word"
	case "spatial":
		return "it contains a keyboard pattern"
	case "repeat":
		return "it contains repeated characters"
	case "sequence":
		return "it contains a sequence such as abc or 123"
	case "date":
		return "it contains a date"
	}
	return "it follows a predictable pattern"
}
