package store_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// trigramMigration is the migration that builds the search's trigram indexes
// (00006_user_search_trgm.sql).
const trigramMigration = 6

// scaleBaseline is the smaller table each read is compared with: twice a
// bounded search's window, so that such a search scans as many users there as
// at any larger size.
const scaleBaseline = 2 * store.SearchWindow

// TestScaleAdminReads seeds AUTHSVC_SCALE_USERS users (at least 500,000; e.g.
// 1000000) and, for comparison, 20,000 into fresh PostgreSQL databases with
// COPY, then times the admin reads on each: the count, the first, a middle and
// the last page, searches and one user. Every read must return exactly the
// users it should (known from how they were seeded). None may take more than
// twice as long at the larger size, plus 10 ms: a read that walked the table
// would cost at least 25 times as much there (100 ms and more at half a
// million), while a trigram lookup legitimately grows with its posting lists
// (under 1 ms at 20,000 users, 3-6 ms at a million) and a bounded search
// varies with the machine's load. And the plans must be the ones that make
// this so: a search with a trigram reads all four trigram indexes, a deep page
// is a range of the primary key. Skipped unless the variable is set; a million
// users take about a minute to seed and index here, and the databases are
// dropped afterwards.
func TestScaleAdminReads(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUTHSVC_SCALE_USERS"))
	if n <= 0 {
		t.Skip("set AUTHSVC_SCALE_USERS (500000 or more) to seed that many users on PostgreSQL and time the admin reads")
	}
	if n < 25*scaleBaseline {
		t.Fatalf("AUTHSVC_SCALE_USERS=%d: use %d or more, so that a read walking the table shows in the timings", n, 25*scaleBaseline)
	}
	base := seedScale(t, scaleBaseline)
	big := seedScale(t, n)
	baseTimes, bigTimes := base.measureReads(t), big.measureReads(t)
	var slow []string
	for _, name := range slices.Sorted(maps.Keys(bigTimes)) {
		b, l := baseTimes[name], bigTimes[name]
		t.Logf("%-26s median %9v at %d users, %9v at %d", name, b.Round(10*time.Microsecond), scaleBaseline, l.Round(10*time.Microsecond), n)
		if limit := 2*b + 10*time.Millisecond; l > limit {
			t.Errorf("%s: median %v at %d users, %v at %d: more than twice as slow, plus 10 ms", name, l, n, b, scaleBaseline)
			slow = append(slow, name)
		}
	}
	big.checkPlans(t, slow)
}

// scaleDB is a database seeded by seedScale. User i (0-based) has the i-th
// smallest id and the fields scaleUser(i).
type scaleDB struct {
	n    int
	st   *store.Store
	conn *pgx.Conn
	ids  []uuid.UUID
	now  time.Time
}

var (
	scaleFirst = []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Ken", "Dennis", "Margaret", "Linus",
		"Frances", "John", "Radia", "Tim", "Sophie", "Niklaus", "Leslie", "Shafi", "Whitfield", "Hedy"}
	scaleLast = []string{"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Thompson", "Ritchie", "Hamilton", "Torvalds",
		"Allen", "McCarthy", "Perlman", "Berners-Lee", "Wilson", "Wirth", "Lamport", "Goldwasser", "Diffie", "Johnson"}
)

// scaleUser is the username, email, first and last name of user i: s4242
// matches a handful of a million.
func scaleUser(i int) (username, email, first, last string) {
	username = fmt.Sprintf("%c%d", 'a'+i%26, i)
	return username, username + "@example.com", scaleFirst[i%len(scaleFirst)], scaleLast[(i/7)%len(scaleLast)]
}

// scaleResource is user i's one resource, if any.
func scaleResource(i int) string {
	if u, _, _, _ := scaleUser(i); strings.HasSuffix(u, "7") {
		return "res-" + u[:min(3, len(u))] // as left(username, 3)
	}
	return ""
}

// seedScale fills a fresh, migrated PostgreSQL database with n users (role
// user, some with a resource). The trigram indexes are built after the COPY,
// as their migration does on an existing table (faster than filling them row
// by row): that one migration is rolled back before and applied again after.
func seedScale(t *testing.T, n int) *scaleDB {
	t.Helper()
	ctx := context.Background()
	url := testdb.URL(t, store.Postgres)
	st, err := store.Open(ctx, url, store.Options{})
	testdb.Must(t, err)
	t.Cleanup(func() { st.Close() })
	testdb.Must(t, st.Migrate(ctx))
	testdb.Must(t, st.EnsureBuiltinRoles(ctx, t0()))
	m, err := st.Migrator()
	testdb.Must(t, err)
	status, err := m.Status(ctx)
	testdb.Must(t, err)
	if i := slices.IndexFunc(status, func(s store.MigrationStatus) bool { return s.Version == trigramMigration }); i < 0 ||
		!strings.Contains(status[i].Name, "trgm") {
		t.Fatalf("migration %d is not the trigram indexes' migration: %+v", trigramMigration, status)
	}
	testdb.Must(t, m.ApplyVersion(ctx, trigramMigration, false))

	start := time.Now()
	conn, err := pgx.Connect(ctx, url)
	testdb.Must(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	db := &scaleDB{n: n, st: st, conn: conn, ids: make([]uuid.UUID, n), now: time.Now().UTC()}
	i := 0
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		id := uuid.Must(uuid.NewV7())
		if i > 0 && bytes.Compare(id[:], db.ids[i-1][:]) <= 0 {
			return nil, fmt.Errorf("uuid.NewV7 gave %s after %s: the ids must rise for user i to be the i-th", id, db.ids[i-1])
		}
		db.ids[i] = id
		username, email, first, last := scaleUser(i)
		r := []any{id, email, username, first, last, "x", models.StatusActive, db.now, db.now, email, username}
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
	t.Logf("%d users: seeded in %v", n, time.Since(start).Round(time.Millisecond))
	index := time.Now()
	testdb.Must(t, m.ApplyVersion(ctx, trigramMigration, true))
	t.Logf("%d users: trigram indexes built (migration %05d) in %v", n, trigramMigration, time.Since(index).Round(time.Millisecond))
	status, err = m.Status(ctx)
	testdb.Must(t, err)
	for _, s := range status {
		if !s.Applied {
			t.Fatalf("migration %d is not applied after the seeding", s.Version)
		}
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	testdb.Must(t, err)
	return db
}

// read is one admin read and the users it must return.
type read struct {
	name string
	f    store.UserFilter
	from int // the index of the first user it may return
}

// reads are the reads measured: pages, searches (with a trigram, served by
// the indexes; without one, bounded by the window) and the directory.
func (db *scaleDB) reads() []read {
	mid, deep := db.n/2, max(0, db.n-60)
	rs := []read{
		{"first page", store.UserFilter{}, 0},
		{"middle page", store.UserFilter{After: db.ids[mid]}, mid + 1},
		{"last page", store.UserFilter{After: db.ids[deep]}, deep + 1},
		{"directory q=s4242", store.UserFilter{Query: "s4242", Directory: true}, 0},
	}
	for _, q := range []string{"s4242", "johnson", "example.com", "grace", "s42", "zq", "s4"} {
		rs = append(rs, read{"q=" + q, store.UserFilter{Query: q}, 0})
	}
	for i := range rs {
		rs[i].f.Now, rs[i].f.Limit = db.now, 51
	}
	return rs
}

// want is the page r must return, worked out from the seeded fields: the
// first matches from r.from on, at most a bounded search's window of users
// looked at; and the Next of that page.
func (db *scaleDB) want(r read) ([]int, uuid.UUID) {
	end := db.n
	bounded := r.f.Query != "" && !hasTrigram(r.f.Query)
	if bounded {
		end = min(db.n, r.from+store.SearchWindow)
	}
	var out []int
	for i := r.from; i < end && len(out) < r.f.Limit; i++ {
		if r.f.Query == "" || db.matches(i, r.f.Query, r.f.Directory) {
			out = append(out, i)
		}
	}
	switch {
	case len(out) == r.f.Limit:
		return out, db.ids[out[len(out)-1]]
	case bounded && end < db.n:
		return out, db.ids[end-1]
	}
	return out, uuid.Nil
}

func (db *scaleDB) matches(i int, q string, directory bool) bool {
	username, email, first, last := scaleUser(i)
	return strings.Contains(username, q) || strings.Contains(strings.ToLower(first), q) ||
		strings.Contains(strings.ToLower(last), q) || (!directory && strings.Contains(email, q))
}

// hasTrigram is whether q has three letters or digits in a row (the store's
// rule for a search the trigram indexes serve); the seeded queries are ASCII.
func hasTrigram(q string) bool {
	run := 0
	for _, c := range q {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if run++; run == 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// check fails unless page is the one r must return.
func (db *scaleDB) check(t *testing.T, r read, page *store.UserPage) {
	t.Helper()
	want, next := db.want(r)
	got := make([]string, len(page.Users))
	for k, a := range page.Users {
		got[k] = a.Username
	}
	wantNames := make([]string, len(want))
	for k, i := range want {
		wantNames[k], _, _, _ = scaleUser(i)
	}
	if !slices.Equal(got, wantNames) || page.Next != next {
		t.Fatalf("%d users, %s: got %d users %v (next %s), want %d %v (next %s)", db.n, r.name,
			len(got), got, page.Next, len(wantNames), wantNames, next)
	}
	for k, a := range page.Users {
		i := want[k]
		var res []string
		if s := scaleResource(i); s != "" {
			res = []string{s}
		}
		if a.ID != db.ids[i] || !slices.Equal(a.Roles, []string{models.RoleUser}) || !slices.Equal(a.Resources, res) {
			t.Fatalf("%d users, %s: user %s is %s with roles %v, resources %v; want %s, [user], %v", db.n, r.name,
				a.Username, a.ID, a.Roles, a.Resources, db.ids[i], res)
		}
	}
}

// measureReads runs each read 23 times on the service's pool (its prepared
// statements and their cached plans included), checking every answer, and
// returns the median of the last 20 by read.
func (db *scaleDB) measureReads(t *testing.T) map[string]time.Duration {
	t.Helper()
	ctx := context.Background()
	medians := map[string]time.Duration{}
	// fn reads and returns the check of what it read, which is not timed.
	measure := func(name string, fn func() (check func())) {
		var d []time.Duration
		for r := range 23 {
			s := time.Now()
			check := fn()
			if r >= 3 {
				d = append(d, time.Since(s))
			}
			check()
		}
		slices.Sort(d)
		medians[name] = d[len(d)/2]
	}
	measure("count", func() func() {
		c, err := db.st.CountUsers(ctx)
		return func() {
			testdb.Must(t, err)
			if c != int64(db.n) {
				t.Fatalf("%d users: CountUsers = %d", db.n, c)
			}
		}
	})
	list := func(r read) func() func() {
		return func() func() {
			p, err := db.st.ListUsersPage(ctx, r.f)
			return func() {
				testdb.Must(t, err)
				db.check(t, r, p)
			}
		}
	}
	rs := db.reads()
	for _, r := range rs {
		measure(r.name, list(r))
	}
	// Rare and common searches in turn on the same prepared statement: each
	// must keep its own plan (a cached generic plan would walk the table for s4242).
	var turn []read
	for _, r := range rs {
		if slices.Contains([]string{"q=s4242", "q=example.com", "q=johnson"}, r.name) {
			turn = append(turn, r)
		}
	}
	k := 0
	measure("q= rare, common in turn", func() func() { k++; return list(turn[k%len(turn)])() })
	mid := db.n / 2
	measure("user by id", func() func() {
		a, err := db.st.UserByID(ctx, db.ids[mid])
		return func() {
			testdb.Must(t, err)
			if name, _, _, _ := scaleUser(mid); a.ID != db.ids[mid] || a.Username != name {
				t.Fatalf("%d users: UserByID(%s) = %s %s; want %s", db.n, db.ids[mid], a.ID, a.Username, name)
			}
		}
	})
	return medians
}

// checkPlans: a search with a trigram reads the four trigram indexes (a
// BitmapOr), and a deep page is a range of the primary key; neither walks the
// table. The plans of the reads named in slow are logged too.
func (db *scaleDB) checkPlans(t *testing.T, slow []string) {
	t.Helper()
	ctx := context.Background()
	mustHave := map[string][]string{
		"q=s4242":   {"users_username_key_trgm", "users_email_key_trgm", "users_first_name_trgm", "users_last_name_trgm"},
		"last page": {"users_pkey"},
	}
	for _, r := range db.reads() {
		want, ok := mustHave[r.name]
		if !ok && !slices.Contains(slow, r.name) {
			continue
		}
		sqlText, args := db.st.ListUsersSQL(r.f, uuid.Nil)
		rows, err := db.conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS off) "+sqlText, args...)
		testdb.Must(t, err)
		var plan strings.Builder
		for rows.Next() {
			var line string
			testdb.Must(t, rows.Scan(&line))
			plan.WriteString("\n\t" + line)
		}
		testdb.Must(t, rows.Err())
		t.Logf("%d users, %s:%s", db.n, r.name, plan.String())
		for _, index := range want {
			if !strings.Contains(plan.String(), index) {
				t.Errorf("%d users, %s: the plan does not read %s:%s", db.n, r.name, index, plan.String())
			}
		}
		if ok && strings.Contains(plan.String(), "Seq Scan on users") {
			t.Errorf("%d users, %s: the plan walks the table:%s", db.n, r.name, plan.String())
		}
	}
}
