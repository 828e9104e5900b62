package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/store"
)

// AdminSpec describes an administrator to create.
type AdminSpec struct {
	Email, Username, Password string
}

// CreateAdmin creates an active user with the admin (and user) role. The password
// must pass the policy; errors say which field is wrong.
func CreateAdmin(ctx context.Context, st *store.Store, h *password.Hasher, policy password.Policy, spec AdminSpec, now func() time.Time) (*store.Account, error) {
	if err := policy.Check(spec.Password, spec.Email, spec.Username); err != nil {
		return nil, fmt.Errorf("password %w", err)
	}
	hash, err := h.Hash(spec.Password)
	if err != nil {
		return nil, err
	}
	t := now()
	u := &models.User{
		ID: uuid.Must(uuid.NewV7()), Email: spec.Email, Username: spec.Username,
		PasswordHash: hash, Status: models.StatusActive, CreatedAt: t, UpdatedAt: t,
	}
	err = st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.CreateUser(ctx, u, []string{models.RoleAdmin, models.RoleUser}, nil); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.UserCreated, t, uuid.Nil, u.ID, audit.Client{IP: "local"},
			audit.Details{"roles": []string{models.RoleAdmin, models.RoleUser}, "via": "command line"}))
	})
	if err != nil {
		return nil, err
	}
	return st.UserByID(ctx, u.ID)
}

// Bootstrap creates the first admin when no user holds the admin role: from
// ADMIN_EMAIL / ADMIN_USERNAME / ADMIN_PASSWORD, or with a generated password
// logged once. Several instances starting together create it once: the unique
// email and username make the losers' inserts fail, which is fine.
func (a *App) Bootstrap(ctx context.Context) error {
	has, err := a.Store.HasAdmin(ctx)
	if err != nil || has {
		return err
	}
	spec := AdminSpec{Email: a.Config.AdminEmail, Username: a.Config.AdminUsername, Password: a.Config.AdminPassword}
	if spec.Email == "" {
		spec.Email = spec.Username + "@localhost"
	}
	generated := spec.Password == ""
	if generated {
		b := make([]byte, 18)
		rand.Read(b)
		spec.Password = base64.RawURLEncoding.EncodeToString(b)
	}
	acct, err := CreateAdmin(ctx, a.Store, a.Hasher, a.Policy, spec, a.Now)
	if errors.Is(err, store.ErrConflict) {
		if has, herr := a.Store.HasAdmin(ctx); herr == nil && has {
			return nil // another instance bootstrapped it
		}
		return fmt.Errorf("bootstrap admin: a user named %q or with email %q exists but is not an admin; set ADMIN_USERNAME/ADMIN_EMAIL", spec.Username, spec.Email)
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin (ADMIN_PASSWORD): %w", err)
	}
	if generated {
		// Printed once, deliberately: the operator's only way to the first login.
		a.Log.Warn("created the bootstrap admin with a one-time generated password; log in and change it",
			"username", acct.Username, "email", acct.Email, "password", spec.Password)
	} else {
		a.Log.Info("created the bootstrap admin", "username", acct.Username, "email", acct.Email)
	}
	return nil
}
