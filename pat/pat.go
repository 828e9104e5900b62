// Package pat is the format of personal access tokens: a prefix secret
// scanners recognise, 256 random bits, and the MAC under which a token is
// stored (never the token itself).
package pat

import (
	"strings"

	"github.com/authsvc/authsvc/secret"
)

// Prefix starts every personal access token, so that a token pasted where it
// should not be is found by secret scanners, and never taken for a JWT.
const Prefix = "authsvc_pat_"

// macPurpose keys the MAC of stored tokens.
const macPurpose = "personal-access-token"

// New returns a new token: Prefix and 32 random bytes, base64url.
func New() string { return Prefix + secret.Token() }

// Is reports whether raw has the form of a personal access token.
func Is(raw string) bool { return strings.HasPrefix(raw, Prefix) }

// MAC is what the database keeps of a token.
func MAC(key *secret.Key, raw string) []byte { return key.MAC(macPurpose, []byte(raw)) }
