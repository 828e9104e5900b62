package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/logger"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// statementCounter is a GORM logger that counts the statements run.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) LogMode(logger.LogLevel) logger.Interface { return c }
func (c *statementCounter) Info(context.Context, string, ...any)     {}
func (c *statementCounter) Warn(context.Context, string, ...any)     {}
func (c *statementCounter) Error(context.Context, string, ...any)    {}
func (c *statementCounter) Trace(context.Context, time.Time, func() (string, int64), error) {
	c.n.Add(1)
}

// TestAdminReadsQueryCount: a page of users with their roles, permissions and
// resources costs the same few statements for 50 users as for 5 (one for the
// users, one per kind of grant, plus one for a bounded search's window), and
// so does a single user (GET /v1/users/{id}).
func TestAdminReadsQueryCount(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
		testdb.Must(t, st.CreateRole(ctx, &models.Role{Name: "ops", CreatedAt: t0(), UpdatedAt: t0()}, []string{models.PermUsersRead, models.PermAuditRead}))
		for i := range 60 {
			u := addUser(t, st, fmt.Sprintf("qc%02d", i), []string{models.RoleUser, "ops"}, nil)
			testdb.Must(t, st.SetResources(ctx, u.ID, []string{"res-a", fmt.Sprintf("res-%d", i)}))
		}
		counter := &statementCounter{}
		st.GORM().Logger = counter
		statements := func(fn func()) int64 {
			before := counter.n.Load()
			fn()
			return counter.n.Load() - before
		}
		for _, tc := range []struct {
			name string
			f    store.UserFilter
			max  int64
		}{
			{"all", store.UserFilter{}, 4},
			{"search", store.UserFilter{Query: "example"}, 5},
			{"short search", store.UserFilter{Query: "qc"}, 5},
			{"role", store.UserFilter{Role: "ops"}, 4},
			{"directory", store.UserFilter{Directory: true, Query: "qc"}, 5},
		} {
			var small, large *store.UserPage
			n5 := statements(func() {
				var err error
				small, err = st.ListUsersPage(ctx, store.UserFilter{Query: tc.f.Query, Role: tc.f.Role, Directory: tc.f.Directory, Now: t0(), Limit: 5})
				testdb.Must(t, err)
			})
			n50 := statements(func() {
				var err error
				large, err = st.ListUsersPage(ctx, store.UserFilter{Query: tc.f.Query, Role: tc.f.Role, Directory: tc.f.Directory, Now: t0(), Limit: 50})
				testdb.Must(t, err)
			})
			if len(small.Users) != 5 || len(large.Users) != 50 {
				t.Fatalf("%s: pages of %d and %d users", tc.name, len(small.Users), len(large.Users))
			}
			if n5 != n50 || n50 > tc.max {
				t.Errorf("%s: %d statements for 5 users, %d for 50; want the same, at most %d", tc.name, n5, n50, tc.max)
			}
			for _, a := range large.Users {
				if !slices.Equal(a.Roles, []string{"ops", models.RoleUser}) || !a.Can(models.PermAuditRead) ||
					len(a.Resources) != 2 || !slices.Contains(a.Resources, "res-a") {
					t.Fatalf("%s: %s has %v, %v, %v", tc.name, a.Username, a.Roles, a.Permissions, a.Resources)
				}
			}
		}
		id := firstUserID(t, st)
		one := statements(func() {
			a, err := st.UserByID(ctx, id)
			testdb.Must(t, err)
			if len(a.Roles) != 2 || len(a.Resources) != 2 {
				t.Fatalf("UserByID: %+v", a)
			}
		})
		if one != 4 {
			t.Errorf("UserByID: %d statements, want 4 (the user, roles, permissions, resources)", one)
		}
	})
}

func firstUserID(t *testing.T, st *store.Store) uuid.UUID {
	t.Helper()
	p, err := st.ListUsersPage(context.Background(), store.UserFilter{Now: t0(), Limit: 1})
	testdb.Must(t, err)
	return p.Users[0].ID
}
