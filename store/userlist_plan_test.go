package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// seedPlanUsers inserts n users in one statement (uXXX, uXXX@example.com, a
// handful of first and last names) and refreshes the planner's statistics.
func seedPlanUsers(t *testing.T, db *sql.DB, dialect string, n int) {
	t.Helper()
	first := `(ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Ken','Dennis','Margaret','Linus'])[1 + i % 10]`
	last := `(ARRAY['Lovelace','Turing','Hopper','Dijkstra','Liskov','Knuth','Thompson','Ritchie','Hamilton','Torvalds'])[1 + i / 10 % 10]`
	q := `INSERT INTO users (id, email, username, first_name, last_name, password_hash, status, created_at, updated_at, email_key, username_key)
		SELECT gen_random_uuid(), 'u' || i || '@example.com', 'u' || i, ` + first + `, ` + last + `, 'x', 'active', now(), now(), 'u' || i || '@example.com', 'u' || i
		FROM generate_series(1, $1) AS i`
	if dialect == store.SQLite {
		q = `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
			INSERT INTO users (id, email, username, first_name, last_name, password_hash, status, created_at, updated_at, email_key, username_key)
			SELECT lower(hex(randomblob(16))), 'u' || i || '@example.com', 'u' || i, 'Ada', 'Lovelace', 'x', 'active', '2026-01-02 15:04:05', '2026-01-02 15:04:05', 'u' || i || '@example.com', 'u' || i FROM g`
	}
	_, err := db.Exec(q, n)
	testdb.Must(t, err)
	_, err = db.Exec("ANALYZE")
	testdb.Must(t, err)
}

// explain returns the plan of a statement the store would run. On
// PostgreSQL, pgSettings (SET LOCAL …) run first: on test tables this small the
// planner rightly prefers scans an index would beat at scale (see
// TestScaleAdminReads for the plans at a million users).
func explain(t *testing.T, db *sql.DB, dialect, query string, args []any, pgSettings ...string) string {
	t.Helper()
	tx, err := db.Begin()
	testdb.Must(t, err)
	defer tx.Rollback()
	prefix := "EXPLAIN QUERY PLAN "
	if dialect == store.Postgres {
		prefix = "EXPLAIN "
		for _, set := range pgSettings {
			_, err := tx.Exec(set)
			testdb.Must(t, err)
		}
	}
	rows, err := tx.Query(prefix+query, args...)
	testdb.Must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	testdb.Must(t, err)
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		testdb.Must(t, rows.Scan(ptrs...))
		fmt.Fprintf(&plan, "%s\n", vals[len(vals)-1])
	}
	testdb.Must(t, rows.Err())
	return plan.String()
}

// TestListUsersPlans: every page, however deep, is a range of the primary key
// read in its order (no scan of the table, no sort), on both databases, and so
// is a bounded search's window. On PostgreSQL every condition of a search is
// served by its trigram index, the BitmapOr of one Bitmap Index Scan each;
// with 20,000 users the planner rightly prefers to walk the table, so it is
// told not to here (TestScaleAdminReads shows its choice at a million).
func TestListUsersPlans(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		db, err := st.SQL()
		testdb.Must(t, err)
		n := 20000
		if d == store.SQLite {
			n = 2000 // SQLite plans without row counts; a few rows keep it honest
		}
		seedPlanUsers(t, db, d, n)
		nth := "SELECT id FROM users ORDER BY id LIMIT 1 OFFSET ?"
		if d == store.Postgres {
			nth = strings.Replace(nth, "?", "$1", 1)
		}
		// A deep page, with many users after it; a window of 500 users after it.
		var deep, windowEnd uuid.UUID
		testdb.Must(t, db.QueryRowContext(ctx, nth, n/2).Scan(&deep))
		testdb.Must(t, db.QueryRowContext(ctx, nth, n/2+500).Scan(&windowEnd))

		trigram := []string{"users_username_key_trgm", "users_email_key_trgm", "users_first_name_trgm", "users_last_name_trgm"}
		type check struct {
			name         string
			sql          string
			args         []any
			want         []string // in the plan
			wantNot      []string // not in the plan
			forceIndexes bool
		}
		page := func(f store.UserFilter, end uuid.UUID) (string, []any) {
			f.Now, f.Limit = t0(), 51
			return st.ListUsersSQL(f, end)
		}
		var checks []check
		add := func(c check, sqlText string, args []any) {
			c.sql, c.args = sqlText, args
			checks = append(checks, c)
		}
		// The pages by the primary key in its order: no scan of the table, no sort.
		firstPage, deepPage := []string{"Index Scan using users_pkey"}, []string{"Index Scan using users_pkey", "Index Cond: (id > "}
		noScanNoSort := []string{"Seq Scan", "Sort"}
		if d == store.SQLite {
			firstPage, deepPage = []string{"USING INDEX sqlite_autoindex_users_1"}, []string{"USING INDEX sqlite_autoindex_users_1 (id>?)"}
			noScanNoSort = []string{"TEMP B-TREE"}
		}
		s, a := page(store.UserFilter{}, uuid.Nil)
		add(check{name: "first page", want: firstPage, wantNot: noScanNoSort}, s, a)
		s, a = page(store.UserFilter{After: deep}, uuid.Nil)
		add(check{name: "deep page", want: deepPage, wantNot: noScanNoSort}, s, a)
		if d == store.Postgres {
			// Every condition of the search is served by its trigram index.
			trigramScans := func(idx ...string) []string {
				out := []string{"BitmapOr"}
				for _, i := range idx {
					out = append(out, "Bitmap Index Scan on "+i)
				}
				return out
			}
			s, a = page(store.UserFilter{Query: "U1234"}, uuid.Nil)
			add(check{name: "search", want: trigramScans(trigram...), wantNot: []string{"Seq Scan"}, forceIndexes: true}, s, a)
			s, a = page(store.UserFilter{Query: "u1234", Directory: true}, uuid.Nil)
			add(check{name: "directory search", want: trigramScans(trigram[0], trigram[2], trigram[3]), wantNot: []string{"Seq Scan", trigram[1]}, forceIndexes: true}, s, a)
		}
		// A bounded search: the window's end by the key alone,
		s, a = st.WindowSQL(store.UserFilter{Query: "u1", After: deep, Window: 500})
		windowPlan := []string{"Index Only Scan using users_pkey"}
		if d == store.SQLite {
			windowPlan = []string{"USING COVERING INDEX sqlite_autoindex_users_1 (id>?)"}
		}
		add(check{name: "window end", want: windowPlan, wantNot: noScanNoSort}, s, a)
		// and the search a range of the key (a few hundred rows here).
		s, a = page(store.UserFilter{Query: "u1", After: deep}, windowEnd)
		rangeScan := []string{"Index Scan using users_pkey", "id > ", "id <= "}
		if d == store.SQLite {
			rangeScan = []string{"USING INDEX sqlite_autoindex_users_1 (id>? AND id<?)"}
		}
		add(check{name: "bounded search", want: rangeScan, wantNot: noScanNoSort}, s, a)

		for _, c := range checks {
			var settings []string
			if c.forceIndexes {
				settings = []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_indexscan = off"}
			}
			plan := explain(t, db, d, c.sql, c.args, settings...)
			for _, w := range c.want {
				if !strings.Contains(plan, w) {
					t.Errorf("%s: the plan does not use %q:\n%s\n%s", c.name, w, c.sql, plan)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(plan, w) {
					t.Errorf("%s: the plan has %q:\n%s\n%s", c.name, w, c.sql, plan)
				}
			}
		}
	})
}
