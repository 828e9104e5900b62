package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
)

// TestVerifiedEmailMigration: accounts from before verified email existed
// come out of migration 00008 verified, with no second factor, and their
// sessions as password logins.
func TestVerifiedEmailMigration(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		m := migrateBelow(t, st, 8)
		u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: "old@example.com", Username: "old",
			EmailKey: "old@example.com", UsernameKey: "old", PasswordHash: "x", Status: models.StatusActive,
			CreatedAt: t0(), UpdatedAt: t0()}
		testdb.Must(t, st.GORM().Omit(newerUserColumns...).Create(u).Error)
		sess := &models.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, CreatedAt: t0(), LastUsedAt: t0(), ExpiresAt: t0().AddDate(0, 0, 7)}
		testdb.Must(t, st.GORM().Omit(newerSessionColumns...).Create(sess).Error)

		testdb.Must(t, m.Up(ctx))
		got, err := st.UserByID(ctx, u.ID)
		testdb.Must(t, err)
		if got.EmailVerifiedAt == nil || !got.EmailVerifiedAt.Equal(t0()) || got.PendingEmail != nil {
			t.Errorf("email_verified_at %v, pending_email %v; want verified at creation, nothing pending", got.EmailVerifiedAt, got.PendingEmail)
		}
		if got.TOTPEnabled() || got.TOTPSecretSealed != nil || got.RecoveryCodesLeft != 0 {
			t.Errorf("an old account has a second factor: %+v", got.User)
		}
		s, err := st.SessionByID(ctx, sess.ID)
		testdb.Must(t, err)
		if s.AMR != models.AMRPassword {
			t.Errorf("an old session's amr %q; want %q", s.AMR, models.AMRPassword)
		}
	})
}

// newerSessionColumns are the sessions columns that migrations after 00007 added.
var newerSessionColumns = []string{"amr", "factor_id", "idp"}
