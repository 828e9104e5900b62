package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

func TestDeleteAllUsersStore(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		for i := range 3 {
			u := addUser(t, st, fmt.Sprintf("u%d", i), []string{"admin"}, nil)
			sess := &models.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, CreatedAt: t0(), LastUsedAt: t0(), ExpiresAt: t0().Add(time.Hour)}
			testdb.Must(t, st.CreateSession(ctx, sess, &models.RefreshToken{ID: uuid.Must(uuid.NewV7()), SessionID: sess.ID, TokenHash: []byte{byte(i)}, CreatedAt: t0()}))
		}
		var n int64
		var revoked []uuid.UUID
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			if revoked, err = tx.RevokeSessions(ctx, store.Revoke{All: true, Reason: "users_wiped", Now: t0(), AccessTTL: time.Minute}); err != nil {
				return err
			}
			n, err = tx.DeleteAllUsers(ctx)
			return err
		}))
		count, err := st.CountUsers(ctx)
		testdb.Must(t, err)
		if n != 3 || count != 0 || len(revoked) != 3 {
			t.Fatalf("deleted %d, %d remain, %d revoked", n, count, len(revoked))
		}
		has, err := st.HasAdmin(ctx)
		testdb.Must(t, err)
		if has {
			t.Fatal("an admin role grant survived")
		}
	})
}
