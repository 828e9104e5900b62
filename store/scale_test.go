package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// TestScaleAdminReads seeds AUTHSVC_SCALE_USERS users (e.g. 1000 and 1000000)
// into a fresh PostgreSQL database with COPY, then logs how long the admin
// reads take: the count, the first, a middle and the last page, searches and
// one user. Compare two sizes; none should be more than 1.5× slower at the
// larger. Skipped unless the variable is set; a million users take a few
// minutes to seed and index, and the database is dropped afterwards.
func TestScaleAdminReads(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTHSVC_SCALE_USERS"))
	if n <= 0 {
		t.Skip("set AUTHSVC_SCALE_USERS to seed that many users on PostgreSQL and time the admin reads")
	}
	ctx := context.Background()
	url := testdb.URL(t, store.Postgres)
	st, err := store.Open(ctx, url, store.Options{})
	testdb.Must(t, err)
	defer st.Close()
	testdb.Must(t, st.Migrate(ctx))
	testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
	// The search indexes are built after the COPY, as the migration does on an
	// existing table (faster than filling them row by row).
	m, err := st.Migrator()
	testdb.Must(t, err)
	testdb.Must(t, m.Down(ctx))

	start := time.Now()
	conn, err := pgx.Connect(ctx, url)
	testdb.Must(t, err)
	defer conn.Close(ctx)
	first := []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Ken", "Dennis", "Margaret", "Linus",
		"Frances", "John", "Radia", "Tim", "Sophie", "Niklaus", "Leslie", "Shafi", "Whitfield", "Hedy"}
	last := []string{"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Thompson", "Ritchie", "Hamilton", "Torvalds",
		"Allen", "McCarthy", "Perlman", "Berners-Lee", "Wilson", "Wirth", "Lamport", "Goldwasser", "Diffie", "Johnson"}
	now := time.Now().UTC()
	i := 0
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		name := fmt.Sprintf("%c%d", 'a'+i%26, i) // s4242 matches a handful of a million
		email := name + "@example.com"
		r := []any{uuid.Must(uuid.NewV7()), email, name, first[i%len(first)], last[(i/7)%len(last)], "x", "active", now, now, email, name}
		i++
		return r, nil
	})
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "email", "username", "first_name", "last_name",
		"password_hash", "status", "created_at", "updated_at", "email_key", "username_key"}, rows)
	testdb.Must(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO user_roles (user_id, role_name) SELECT id, 'user' FROM users`)
	testdb.Must(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO user_resources (user_id, resource) SELECT id, 'res-' || left(username, 3) FROM users WHERE right(username, 1) = '7'`)
	testdb.Must(t, err)
	t.Logf("seeded %d users in %v", n, time.Since(start).Round(time.Millisecond))
	index := time.Now()
	testdb.Must(t, m.Up(ctx))
	t.Logf("search indexes built (migration 00006) in %v", time.Since(index).Round(time.Millisecond))
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	testdb.Must(t, err)

	var mid, deep uuid.UUID
	testdb.Must(t, conn.QueryRow(ctx, "SELECT id FROM users ORDER BY id OFFSET $1 LIMIT 1", n/2).Scan(&mid))
	testdb.Must(t, conn.QueryRow(ctx, "SELECT id FROM users ORDER BY id OFFSET $1 LIMIT 1", max(0, n-60)).Scan(&deep))

	// Each read runs 23 times on the service's pool (its prepared statements
	// and their cached plans included); the first 3 are not timed.
	measure := func(name string, fn func() (int, error)) {
		var d []time.Duration
		var got int
		for r := range 23 {
			s := time.Now()
			k, err := fn()
			testdb.Must(t, err)
			if r >= 3 {
				d = append(d, time.Since(s))
			}
			got = k
		}
		slices.Sort(d)
		t.Logf("%-24s median %9v  p90 %9v  (%d)", name, d[len(d)/2].Round(10*time.Microsecond), d[len(d)*9/10].Round(10*time.Microsecond), got)
	}
	list := func(f store.UserFilter) func() (int, error) {
		return func() (int, error) {
			f.Now, f.Limit = now, 51
			p, err := st.ListUsersPage(ctx, f)
			if err != nil {
				return 0, err
			}
			return len(p.Users), nil
		}
	}
	measure("count", func() (int, error) { c, err := st.CountUsers(ctx); return int(c), err })
	measure("first page", list(store.UserFilter{}))
	measure("middle page", list(store.UserFilter{After: mid}))
	measure("last page", list(store.UserFilter{After: deep}))
	for _, q := range []string{"s4242", "johnson", "example.com", "grace", "s42", "zq", "s4"} {
		measure("q="+q, list(store.UserFilter{Query: q}))
	}
	measure("directory q=s4242", list(store.UserFilter{Query: "s4242", Directory: true}))
	// Rare and common searches in turn on the same prepared statement: each
	// must keep its own plan (a cached generic plan would walk the table for s4242).
	qs := []string{"s4242", "example.com", "b1234", "johnson"}
	k := 0
	measure("q= rare, common in turn", func() (int, error) { k++; return list(store.UserFilter{Query: qs[k%len(qs)]})() })
	measure("user by id", func() (int, error) { _, err := st.UserByID(ctx, mid); return 1, err })

	for _, f := range []store.UserFilter{{Query: "s4242"}, {After: deep}} {
		f.Now, f.Limit = now, 51
		sqlText, args := st.ListUsersSQL(f, uuid.Nil)
		var plan strings.Builder
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS off) "+sqlText, args...)
		testdb.Must(t, err)
		for rows.Next() {
			var line string
			testdb.Must(t, rows.Scan(&line))
			plan.WriteString("\n\t" + line)
		}
		testdb.Must(t, rows.Err())
		t.Logf("%+v:%s", f, plan.String())
	}
}
