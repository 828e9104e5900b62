package secret_test

import (
	"testing"

	"github.com/authsvc/authsvc/secret"
)

func TestEqual(t *testing.T) {
	cases := []struct {
		configured, given string
		want              bool
	}{
		{"s3cret-admin-key", "s3cret-admin-key", true},
		{"s3cret-admin-key", "s3cret-admin-kez", false},
		{"s3cret-admin-key", "s3cret-admin-key ", false},
		{"s3cret-admin-key", "s3cret", false},
		{"s3cret-admin-key", "", false},
		{"s3cret", "s3cret-admin-key", false},
		{"", "", false}, // not configured: nothing matches, not even nothing
		{"", "anything", false},
		{"\x00", "\x00", true},
		{"ünïcödé", "ünïcödé", true},
		{"ünïcödé", "unicode", false},
	}
	for _, c := range cases {
		if got := secret.Equal(c.configured, c.given); got != c.want {
			t.Errorf("Equal(%q, %q) = %v; want %v", c.configured, c.given, got, c.want)
		}
	}
}
