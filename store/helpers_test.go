package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// t0 is the tests' fixed "now".
func t0() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }

func addUser(t *testing.T, st *store.Store, username string, roles []string, mod func(*models.User)) *models.User {
	t.Helper()
	u := &models.User{ID: uuid.Must(uuid.NewV7()), Email: username + "@example.com", Username: username,
		PasswordHash: "x", Status: models.StatusActive, CreatedAt: t0(), UpdatedAt: t0()}
	if mod != nil {
		mod(u)
	}
	testdb.Must(t, st.CreateUser(context.Background(), u, roles, nil))
	return u
}

func usernames(list []*store.Account) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Username
	}
	return out
}
