// Package mailaddr puts email addresses in the one form authsvc stores,
// compares and mails: the local part in ASCII, the domain as its IDNA A-label.
// Two spellings of one mailbox then have one form, and no address can take
// the place of another by looking like it (the Kelvin sign K is not k).
package mailaddr

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

var (
	// ErrNotAnAddress: no "@", or nothing before or after it.
	ErrNotAnAddress = errors.New("mailaddr: not an email address")
	// ErrLocalPart: a character outside ASCII before the "@". SMTPUTF8
	// mailboxes are not supported: their local parts have no ASCII form.
	ErrLocalPart = errors.New("mailaddr: the part before @ must be ASCII")
	// ErrDomain: the domain is not a valid (internationalised) domain name.
	ErrDomain = errors.New("mailaddr: the domain is not a valid domain name")
)

// domains maps a domain as resolvers do (UTS #46 lookup: case, width and
// compatibility mappings, then Punycode), and checks the DNS length limits.
var domains = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.VerifyDNSLength(true))

// Normalize returns addr trimmed, with its domain converted to the A-label
// (lower case) and its local part as given: the mail server decides whether
// case matters there. It refuses a local part that is not ASCII.
func Normalize(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", ErrNotAnAddress
	}
	local, domain := addr[:at], addr[at+1:]
	if !isASCII(local) {
		return "", ErrLocalPart
	}
	ascii, err := domains.ToASCII(domain)
	if err != nil || strings.HasSuffix(ascii, ".") {
		return "", ErrDomain
	}
	return local + "@" + ascii, nil
}

// ASCII is addr in the form Normalize gives, or addr trimmed when it has
// none: an address stored before these rules then still compares as itself,
// and, keeping its non-ASCII characters, never as an address Normalize gives.
func ASCII(addr string) string {
	if a, err := Normalize(addr); err == nil {
		return a
	}
	return strings.TrimSpace(addr)
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
