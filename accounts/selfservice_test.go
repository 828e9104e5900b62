package accounts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// The self-service operations refuse a personal access token's principal and
// a service client's themselves (ErrSessionRequired), not only through the
// routes' guard, and change nothing.
func TestSelfServiceNeedsASession(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		e.Signup("ada")
		acct, err := e.App.Store.UserByLogin(ctx, "ada")
		testdb.Must(t, err)
		client := audit.Client{IP: "192.0.2.1"}
		actors := map[string]accounts.Actor{
			"personal token": {Principal: policy.Principal{Account: acct, Scoped: true, Scope: []string{"users:read"}}, Client: client},
			"service client": {Principal: policy.Principal{Client: &store.ServiceClient{}, Scoped: true}, Client: client},
		}
		svc := e.App.Accounts
		pw := apitest.StrongPassword
		ops := map[string]func(a accounts.Actor) error{
			"DeleteSelf":     func(a accounts.Actor) error { return svc.DeleteSelf(ctx, a, pw) },
			"ChangePassword": func(a accounts.Actor) error { return svc.ChangePassword(ctx, a, pw, "another-"+pw) },
			"StartTOTP":      func(a accounts.Actor) error { _, err := svc.StartTOTP(ctx, a, pw); return err },
			"ConfirmTOTP":    func(a accounts.Actor) error { _, err := svc.ConfirmTOTP(ctx, a, uuid.New(), "123456"); return err },
			"DisableTOTP": func(a accounts.Actor) error {
				return svc.DisableTOTP(ctx, a, pw, accounts.SecondFactor{Code: "123456"})
			},
			"RegenerateRecoveryCodes": func(a accounts.Actor) error {
				_, err := svc.RegenerateRecoveryCodes(ctx, a, pw, "123456")
				return err
			},
			"Identities":     func(a accounts.Actor) error { _, err := svc.Identities(ctx, a); return err },
			"UnlinkIdentity": func(a accounts.Actor) error { return svc.UnlinkIdentity(ctx, a, uuid.New()) },
		}
		for who, a := range actors {
			for name, op := range ops {
				if err := op(a); !errors.Is(err, accounts.ErrSessionRequired) {
					t.Errorf("%s by a %s: %v, want ErrSessionRequired", name, who, err)
				}
			}
		}
		// Nothing changed: the password is the same and the account is there.
		e.Login("ada", pw)
	})
}
