package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestBoundedSearchPages: a search that no index serves (any on SQLite, a
// short one on PostgreSQL) looks at no more than Window users per page. Its
// pages may be short or empty, with a Next that resumes after the window;
// following Next finds every match once, in id order, and ends with uuid.Nil.
// ListUsers, for the command line, goes on through the windows by itself.
func TestBoundedSearchPages(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		var want []string
		for i := range 40 {
			name := fmt.Sprintf("w%02d", i)
			if i%9 == 4 || i == 39 {
				name = fmt.Sprintf("zq%02d", i) // 4, 13, 22, 31 and the last one
				want = append(want, name)
			}
			addUser(t, st, name, nil, nil)
		}
		for _, limit := range []int{1, 2, 100} {
			var got []string
			f := store.UserFilter{Query: "zQ", Now: t0(), Limit: limit, Window: 7}
			short := 0
			for pages := 0; ; pages++ {
				if pages > 50 {
					t.Fatalf("limit %d: the pages do not end", limit)
				}
				p, err := st.ListUsersPage(ctx, f)
				testdb.Must(t, err)
				got = append(got, usernames(p.Users)...)
				if len(p.Users) < limit && p.Next != uuid.Nil {
					short++
				}
				if p.Next == uuid.Nil {
					break
				}
				if p.Next == f.After {
					t.Fatalf("limit %d: Next does not move", limit)
				}
				f.After = p.Next
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d: %v, want %v", limit, got, want)
			}
			if short == 0 {
				t.Errorf("limit %d: no page stopped at its window", limit)
			}
		}
		// ListUsers gives every match up to its limit, whatever the windows.
		for _, limit := range []int{1, 3, 100} {
			all, err := st.ListUsers(ctx, store.UserFilter{Query: "zq", Now: t0(), Limit: limit, Window: 7})
			testdb.Must(t, err)
			if got := usernames(all); !slices.Equal(got, want[:min(limit, len(want))]) {
				t.Errorf("ListUsers, limit %d: %v", limit, got)
			}
		}
		// A search PostgreSQL serves from its indexes is not bounded there.
		if d == store.Postgres {
			p, err := st.ListUsersPage(ctx, store.UserFilter{Query: "zq3", Now: t0(), Limit: 10, Window: 7})
			testdb.Must(t, err)
			if got := usernames(p.Users); !slices.Equal(got, []string{"zq31", "zq39"}) || p.Next != uuid.Nil {
				t.Errorf("zq3 on PostgreSQL: %v, Next %v; want [zq31 zq39] and the end", got, p.Next)
			}
		}
	})
}
