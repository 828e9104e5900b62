package mailaddr_test

import (
	"errors"
	"testing"

	"github.com/authsvc/authsvc/mailaddr"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"  Ada@Example.COM ", "Ada@example.com", nil},
		{"ada@bücher.example", "ada@xn--bcher-kva.example", nil},
		{"ada@BÜCHER.example", "ada@xn--bcher-kva.example", nil},
		{"ada@XN--BCHER-KVA.example", "ada@xn--bcher-kva.example", nil},
		{"ada@ｅｘａｍｐｌｅ.com", "ada@example.com", nil},        // fullwidth letters map to ASCII in a domain
		{"kate@\u212Axample.com", "kate@kxample.com", nil}, // resolvers map the Kelvin sign to k
		{"a@b@example.com", "a@b@example.com", nil},        // the last @ splits
		{"\u212Aate@example.com", "", mailaddr.ErrLocalPart},
		{"émile@example.com", "", mailaddr.ErrLocalPart},
		{"ada", "", mailaddr.ErrNotAnAddress},
		{"@example.com", "", mailaddr.ErrNotAnAddress},
		{"ada@", "", mailaddr.ErrNotAnAddress},
		{"ada@exa mple.com", "", mailaddr.ErrDomain},
		{"ada@example.com.", "", mailaddr.ErrDomain},
		{"ada@example..com", "", mailaddr.ErrDomain},
		{"ada@-example.com", "", mailaddr.ErrDomain},
		{"ada@xn--a.example", "", mailaddr.ErrDomain}, // not valid Punycode
	} {
		got, err := mailaddr.Normalize(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestASCII(t *testing.T) {
	for in, want := range map[string]string{
		" ada@Bücher.example": "ada@xn--bcher-kva.example",
		// No ASCII form: kept (trimmed), so it matches neither kate@ nor anything Normalize gives.
		" \u212Aate@example.com ": "\u212Aate@example.com",
	} {
		if got := mailaddr.ASCII(in); got != want {
			t.Errorf("ASCII(%q) = %q; want %q", in, got, want)
		}
	}
}
