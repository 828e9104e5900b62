package main

// The import benchmark (-import N): `authsvc users import` of N users into a
// fresh SQLite database and a fresh PostgreSQL database, each compared with
// the floor of that database measured in the same run: the same file read
// and decoded, and its rows inserted into a bare table (no key, index,
// constraint or trigger) by the same batches in transactions.

import (
	"bufio"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/glebarez/go-sqlite" // "sqlite", for the floor
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// importLimit is the bound on an import of 100,000 users.
const importLimit = time.Minute

// importFloorBatch is the floor's rows per transaction: accounts.ImportBatch.
const importFloorBatch = 500

// importLine is the part of a line of the file the floor stores.
type importLine struct {
	Email         string `json:"email"`
	Username      string `json:"username"`
	FirstName     string `json:"first_name"`
	LastName      string `json:"last_name"`
	Status        string `json:"status"`
	EmailVerified bool   `json:"email_verified"`
	PasswordHash  string `json:"password_hash"`
}

type importResult struct {
	db               string
	users            int
	migrate, elapsed time.Duration
	floor            []time.Duration // before and after the import
}

// runImportBench times the import of n users on both databases.
func runImportBench(ctx context.Context, o options, n int) ([]importResult, error) {
	tmp, bin, err := workspace(ctx, "authbench-import-")
	defer os.RemoveAll(tmp)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(tmp, "users.jsonl")
	logf("writing %d users to %s", n, file)
	if err := writeImportFile(file, n); err != nil {
		return nil, err
	}
	var out []importResult
	for _, kind := range []string{"sqlite", "postgres"} {
		o.db = kind
		dir := filepath.Join(tmp, kind)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return out, err
		}
		r, err := importOn(ctx, o, dir, bin, file, n)
		if err != nil {
			return out, fmt.Errorf("%s: %w", kind, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// importOn migrates a fresh database of o.db, then measures the floor, the
// import and the floor again.
func importOn(ctx context.Context, o options, dir, bin, file string, n int) (importResult, error) {
	r := importResult{users: n}
	db, err := newDatabase(ctx, o, dir)
	if err != nil {
		return r, err
	}
	defer db.drop()
	r.db = db.version
	env := []string{"DATABASE_URL=" + db.url, "SECRET_KEY=" + randomHex(32), "LOG_LEVEL=warn"}
	cli := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Dir = env, dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("authsvc %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	start := time.Now()
	if _, err := cli("migrate", "up"); err != nil {
		return r, err
	}
	r.migrate = time.Since(start)
	floor := func() error {
		logf("%s: the floor, %d rows into a bare table", db.version, n)
		d, err := importFloor(ctx, o.db, db.url, file)
		r.floor = append(r.floor, d)
		return err
	}
	if err := floor(); err != nil {
		return r, err
	}
	logf("%s: authsvc users import, %d users", db.version, n)
	start = time.Now()
	out, err := cli("users", "import", file)
	r.elapsed = time.Since(start)
	if err != nil {
		return r, err
	}
	var sum struct {
		Created, Skipped int
		Errors           []json.RawMessage
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		return r, fmt.Errorf("the import's summary: %w", err)
	}
	if sum.Created != n || sum.Skipped != 0 || len(sum.Errors) != 0 {
		return r, fmt.Errorf("the import created %d, skipped %d, failed %d of %d", sum.Created, sum.Skipped, len(sum.Errors), n)
	}
	return r, floor()
}

// writeImportFile writes n users, half with one bcrypt hash and half with
// one Werkzeug PBKDF2 hash (the two seeds' formats; an import stores hashes,
// it does not compute them).
func writeImportFile(path string, n int) error {
	b, err := bcrypt.GenerateFromPassword([]byte("moved-in-"+randomHex(6)), 10)
	if err != nil {
		return err
	}
	salt := randomHex(8)
	dk, err := pbkdf2.Key(sha256.New, "moved-in-"+randomHex(6), []byte(salt), 600000, 32)
	if err != nil {
		return err
	}
	hashes := []string{string(b), "pbkdf2:sha256:600000$" + salt + "$" + hex.EncodeToString(dk)}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range n {
		if err := enc.Encode(importLine{
			Email: fmt.Sprintf("moved.in.%d@example.com", i), Username: fmt.Sprintf("moved_in_%d", i),
			FirstName: "Moved", LastName: fmt.Sprintf("In %d", i), EmailVerified: i%2 == 0,
			PasswordHash: hashes[i%len(hashes)],
		}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// importFloor reads and decodes the file and inserts its rows into a new bare
// table of the users' columns, importFloorBatch per transaction with one
// multi-row INSERT each, and drops the table.
func importFloor(ctx context.Context, kind, dbURL, file string) (time.Duration, error) {
	ins, closeDB, err := floorInserter(ctx, kind, dbURL)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var batch [][]any
	now := time.Now().UTC()
	for {
		more := sc.Scan()
		if more {
			var l importLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				return 0, err
			}
			var verified any
			if l.EmailVerified {
				verified = now
			}
			batch = append(batch, []any{uuid.Must(uuid.NewV7()).String(), l.Email, l.Username,
				strings.ToLower(l.Email), strings.ToLower(l.Username), l.FirstName, l.LastName,
				l.PasswordHash, "active", verified, now, now})
		}
		if len(batch) == importFloorBatch || (!more && len(batch) > 0) {
			if err := ins(ctx, batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
		if !more {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

const floorColumns = "id, email, username, email_key, username_key, first_name, last_name, password_hash, status, email_verified_at, created_at, updated_at"

// floorInserter opens the database, creates the bare table and returns a
// function inserting a batch of rows in one transaction.
func floorInserter(ctx context.Context, kind, dbURL string) (func(context.Context, [][]any) error, func(), error) {
	const table = "authbench_import_floor"
	if kind == "sqlite" {
		db, err := sql.Open("sqlite", strings.TrimPrefix(dbURL, "sqlite://")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
		if err != nil {
			return nil, nil, err
		}
		db.SetMaxOpenConns(1)
		if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT, email TEXT, username TEXT, email_key TEXT, username_key TEXT, first_name TEXT, last_name TEXT, password_hash TEXT, status TEXT, email_verified_at DATETIME, created_at DATETIME, updated_at DATETIME)"); err != nil {
			db.Close()
			return nil, nil, err
		}
		ins := func(ctx context.Context, rows [][]any) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			q, args := multiRowInsert(table, rows, func(int) string { return "?" })
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}
		return ins, func() { db.ExecContext(context.Background(), "DROP TABLE "+table); db.Close() }, nil
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (id uuid, email text, username text, email_key text, username_key text, first_name text, last_name text, password_hash text, status text, email_verified_at timestamptz, created_at timestamptz, updated_at timestamptz)"); err != nil {
		conn.Close(ctx)
		return nil, nil, err
	}
	ins := func(ctx context.Context, rows [][]any) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			q, args := multiRowInsert(table, rows, func(i int) string { return fmt.Sprintf("$%d", i) })
			_, err := tx.Exec(ctx, q, args...)
			return err
		})
	}
	return ins, func() { conn.Exec(context.Background(), "DROP TABLE "+table); conn.Close(context.Background()) }, nil
}

// multiRowInsert is one INSERT of rows into table; param(i) is the i-th
// (1-based) placeholder.
func multiRowInsert(table string, rows [][]any, param func(i int) string) (string, []any) {
	var q strings.Builder
	q.WriteString("INSERT INTO " + table + " (" + floorColumns + ") VALUES ")
	var args []any
	for r, row := range rows {
		if r > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c, v := range row {
			if c > 0 {
				q.WriteByte(',')
			}
			args = append(args, v)
			q.WriteString(param(len(args)))
		}
		q.WriteByte(')')
	}
	return q.String(), args
}

// printImport writes the import benchmark's table.
func printImport(w io.Writer, rs []importResult) {
	fmt.Fprintf(w, "\nauthsvc users import: users with their bcrypt or PBKDF2 hashes, into a fresh migrated database\n\n")
	fmt.Fprintf(w, "| database | users | import | users/s | floor (bare inserts, before / after) | floor / import | under %s |\n", importLimit)
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		var floors []string
		var sum time.Duration
		for _, f := range r.floor {
			floors = append(floors, fmt.Sprintf("%.1f s", f.Seconds()))
			sum += f
		}
		ratio := "-"
		if len(r.floor) > 0 && r.elapsed > 0 {
			ratio = fmt.Sprintf("%.0f %%", 100*(sum.Seconds()/float64(len(r.floor)))/r.elapsed.Seconds())
		}
		within := "yes"
		if r.elapsed >= importLimit*time.Duration(max(r.users, 1))/100000 {
			within = "NO"
		}
		fmt.Fprintf(w, "| %s | %d | %.1f s | %.0f | %s | %s | %s |\n", r.db, r.users, r.elapsed.Seconds(),
			float64(r.users)/r.elapsed.Seconds(), strings.Join(floors, " / "), ratio, within)
	}
	fmt.Fprintf(w, "\n(the bound scales with the users: %s per 100,000; migration is not counted)\n", importLimit)
}
