package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/store"
)

// Bootstrap creates the first admin when no user holds the admin role: from
// ADMIN_EMAIL / ADMIN_USERNAME / ADMIN_PASSWORD, or with a generated password
// logged once. Several instances starting together create it once: the unique
// email and username make the losers' inserts fail, which is fine.
func (a *App) Bootstrap(ctx context.Context) error {
	has, err := a.Store.HasAdmin(ctx)
	if err != nil || has {
		return err
	}
	p := accounts.Profile{Email: a.Config.AdminEmail, Username: a.Config.AdminUsername}
	if p.Email == "" {
		p.Email = p.Username + "@localhost"
	}
	pw := a.Config.AdminPassword
	generated := pw == ""
	if generated {
		b := make([]byte, 18)
		rand.Read(b)
		pw = base64.RawURLEncoding.EncodeToString(b)
	}
	acct, err := a.Accounts.CreateAdmin(ctx, p, pw)
	if errors.Is(err, store.ErrConflict) {
		if has, herr := a.Store.HasAdmin(ctx); herr == nil && has {
			return nil // another instance bootstrapped it
		}
		return fmt.Errorf("bootstrap admin: a user named %q or with email %q exists but is not an admin; set ADMIN_USERNAME/ADMIN_EMAIL", p.Username, p.Email)
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin (ADMIN_PASSWORD): %w", err)
	}
	if generated {
		// Printed once, deliberately: the operator's only way to the first login.
		a.Log.Warn("created the bootstrap admin with a one-time generated password; log in and change it",
			"username", acct.Username, "email", acct.Email, "password", pw)
	} else {
		a.Log.Info("created the bootstrap admin", "username", acct.Username, "email", acct.Email)
	}
	return nil
}
