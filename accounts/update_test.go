package accounts

import (
	"slices"
	"testing"
)

// The audit trail lists changes under fixed names, in a fixed order, and the
// reason sessions end is the weightiest change's.
func TestUserChangeFieldsAndRevokeReason(t *testing.T) {
	all := userChange{Email: true, EmailVerified: true, Username: true, FirstName: true, LastName: true,
		Password: true, Status: true, Unlocked: true, Roles: true, Resources: true}
	want := []string{"email", "email_verified", "username", "first_name", "last_name",
		"password", "status", "unlocked", "roles", "resources"}
	if got := all.Fields(); !slices.Equal(got, want) {
		t.Errorf("Fields() = %v; want %v", got, want)
	}
	if got := (&userChange{}).Fields(); got == nil || len(got) != 0 {
		t.Errorf("Fields() of no change = %#v; want empty, not nil", got)
	}
	for _, tc := range []struct {
		c    userChange
		want string
	}{
		{userChange{}, ""},
		{userChange{Email: true, FirstName: true, Unlocked: true, Resources: true, EmailVerified: true}, ""},
		{userChange{Status: true}, "status_changed"},
		{userChange{Status: true, Password: true}, "password_changed"},
		{userChange{Status: true, Password: true, Roles: true}, "role_changed"},
		{userChange{Roles: true}, "role_changed"},
	} {
		if got := tc.c.RevokeReason(); got != tc.want {
			t.Errorf("RevokeReason() of %v = %q; want %q", tc.c.Fields(), got, tc.want)
		}
	}
}
