//go:build unix

package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// openMigrated opens the SQLite database at path as a start does: migrated.
func openMigrated(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+path, store.Options{})
	testdb.Must(t, err)
	testdb.Must(t, st.Migrate(context.Background()))
	return st
}

func insertUser(ctx context.Context, st *store.Store, username string) error {
	now := time.Now().UTC()
	return st.CreateUser(ctx, &models.User{ID: uuid.Must(uuid.NewV7()), Email: username + "@example.com",
		Username: username, PasswordHash: "x", Status: models.StatusActive, CreatedAt: now, UpdatedAt: now}, nil, nil)
}

// usernamesIn lists the usernames of the SQLite database at path.
func usernamesIn(t *testing.T, path string) map[string]bool {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+path, store.Options{})
	testdb.Must(t, err)
	defer st.Close()
	db, err := st.SQL()
	testdb.Must(t, err)
	var check string
	testdb.Must(t, db.QueryRow("PRAGMA integrity_check").Scan(&check))
	if check != "ok" {
		t.Fatalf("%s: integrity_check %q", path, check)
	}
	rows, err := db.Query("SELECT username FROM users")
	testdb.Must(t, err)
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var n string
		testdb.Must(t, rows.Scan(&n))
		names[n] = true
	}
	testdb.Must(t, rows.Err())
	return names
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	testdb.Must(t, err)
	return info.Mode().Perm()
}

// TestBackupWhileWriting: a backup taken while another connection keeps
// inserting users opens, passes integrity_check, is private, and holds every
// user committed before it started and a prefix of those written meanwhile
// (one snapshot).
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "authsvc.db")
	st := openMigrated(t, dbPath)
	defer st.Close()
	ctx := context.Background()
	const before = 30
	for i := range before {
		testdb.Must(t, insertUser(ctx, st, fmt.Sprintf("before%d", i)))
	}

	stop := make(chan struct{})
	var written atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if err := insertUser(ctx, st, fmt.Sprintf("during%d", i)); err != nil {
				writerDone <- err
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 3 { // the writer is under way
		time.Sleep(time.Millisecond)
	}
	backupPath := filepath.Join(t.TempDir(), "it's a backup.db") // a quote in the path
	p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + dbPath})
	r := p.run("backup", backupPath).expect(t, 0)
	close(stop)
	testdb.Must(t, <-writerDone)
	if written.Load() < 4 {
		t.Logf("only %d users were written around the backup", written.Load())
	}

	if !strings.Contains(r.stdout, backupPath) || !strings.Contains(r.stdout, filepath.Join(dir, "authsvc.secret")) {
		t.Errorf("stdout does not name the backup and the key file:\n%s", r.stdout)
	}
	if m := mode(t, backupPath); m != 0o600 {
		t.Errorf("backup mode %v, want 0600", m)
	}
	names := usernamesIn(t, backupPath)
	for i := range before {
		if !names[fmt.Sprintf("before%d", i)] {
			t.Errorf("the backup lacks before%d, committed before it started", i)
		}
	}
	during := len(names) - before
	for i := range during {
		if !names[fmt.Sprintf("during%d", i)] {
			t.Errorf("the backup holds %d of the users written during it but not during%d: not one snapshot", during, i)
		}
	}
	t.Logf("backup: %d users committed during it are in it, of %d written", during, written.Load())
}

// TestBackupRefusesToOverwrite: an existing file is left alone unless -force;
// the database itself never is a target.
func TestBackupRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "authsvc.db")
	openMigrated(t, dbPath).Close()
	p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + dbPath, "SECRET_KEY": strings.Repeat("ab", 32)})
	target := filepath.Join(t.TempDir(), "backup.db")
	testdb.Must(t, os.WriteFile(target, []byte("someone else's file"), 0o644))

	r := p.run("backup", target).expect(t, 1)
	if !strings.Contains(r.stderr, "exists") || !strings.Contains(r.stderr, "-force") {
		t.Errorf("stderr %q does not say the file exists and -force replaces it", r.stderr)
	}
	if data, _ := os.ReadFile(target); string(data) != "someone else's file" {
		t.Fatalf("the existing file was changed: %q", data)
	}

	r = p.run("backup", "-force", target).expect(t, 0)
	if !strings.Contains(r.stdout, "SECRET_KEY") {
		t.Errorf("with SECRET_KEY set, stdout does not name it:\n%s", r.stdout)
	}
	if m := mode(t, target); m != 0o600 {
		t.Errorf("replaced backup mode %v, want 0600", m)
	}
	usernamesIn(t, target) // opens and checks

	r = p.run("backup", "-force", dbPath).expect(t, 1)
	if !strings.Contains(r.stderr, "the database itself") {
		t.Errorf("stderr %q", r.stderr)
	}
	usernamesIn(t, dbPath)

	r = p.run("backup").expect(t, 2)
	if !strings.Contains(r.stderr, "authsvc backup [-force] PATH") {
		t.Errorf("no PATH: stderr %q", r.stderr)
	}
	p.vars["DATABASE_URL"] = "sqlite://" + filepath.Join(dir, "absent.db")
	r = p.run("backup", filepath.Join(t.TempDir(), "b.db")).expect(t, 1)
	if !strings.Contains(r.stderr, "no database at") {
		t.Errorf("absent database: stderr %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); err == nil {
		t.Error("backup of an absent database created it")
	}
}

// TestBackupRestorePostgres: PostgreSQL points at pg_dump and pg_restore and
// exits 2, whatever else the configuration lacks (here SECRET_KEY).
func TestBackupRestorePostgres(t *testing.T) {
	p := newProgram(t, map[string]string{"DATABASE_URL": "postgres://u:pw@127.0.0.1:1/authsvc"})
	for cmd, want := range map[string]string{"backup": "pg_dump --format=custom", "restore": "pg_restore"} {
		path := filepath.Join(t.TempDir(), "x")
		if cmd == "restore" {
			testdb.Must(t, os.WriteFile(path, nil, 0o600))
		}
		r := p.run(cmd, path).expect(t, 2)
		if !strings.Contains(r.stderr, want) || r.stdout != "" || strings.Contains(r.stderr, "pw") {
			t.Errorf("%s: stdout %q, stderr %q; want the %s hint on stderr", cmd, r.stdout, r.stderr, want)
		}
		if cmd == "backup" {
			if _, err := os.Stat(path); err == nil {
				t.Error("backup with PostgreSQL wrote a file")
			}
		}
	}
}

// TestBackupRestoreAroundTheService: a backup taken while `serve` runs;
// restore refuses while it runs; once it is stopped and the database has
// changed, restore brings back the backed-up data, and the service started
// on it (the same key file) signs the backed-up admin in again.
func TestBackupRestoreAroundTheService(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "authsvc.db")
	p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + dbPath, "LOG_LEVEL": "info"})
	backupPath := filepath.Join(t.TempDir(), "authsvc-backup.db")
	log := serveWhile(t, p, func(string) {
		p.run("backup", backupPath).expect(t, 0)
		r := p.run("restore", backupPath).expect(t, 1)
		if !strings.Contains(r.stderr, "authsvc holds the database") {
			t.Errorf("restore while serving: stderr %q", r.stderr)
		}
	})
	password := generatedPassword(t, log)
	if password == "" {
		t.Fatalf("no bootstrap password logged:\n%s", log)
	}

	st := openMigrated(t, dbPath)
	testdb.Must(t, insertUser(context.Background(), st, "later"))
	st.Close()

	r := p.run("restore", backupPath).expect(t, 0)
	if !strings.Contains(r.stdout, dbPath) || !strings.Contains(r.stdout, "authsvc.secret") {
		t.Errorf("restore stdout:\n%s", r.stdout)
	}
	if m := mode(t, dbPath); m != 0o600 {
		t.Errorf("restored database mode %v, want 0600", m)
	}
	if _, err := os.Stat(dbPath + "-wal"); err == nil {
		t.Error("the old database's -wal is still beside the restored one")
	}
	st = openMigrated(t, dbPath)
	if _, err := st.UserByLogin(context.Background(), "admin"); err != nil {
		t.Errorf("the backed-up admin: %v", err)
	}
	if _, err := st.UserByLogin(context.Background(), "later"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a user made after the backup: %v; want not found", err)
	}
	st.Close()

	serveWhile(t, p, func(base string) {
		body, _ := json.Marshal(map[string]string{"login": "admin", "password": password})
		res, err := http.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(body))
		testdb.Must(t, err)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("login as the backed-up admin after the restore: %d", res.StatusCode)
		}
	})
}

// TestRestoreLock: restore refuses while the lock is held shared (here by
// the test, as serve holds it, and then by a users import under way), and
// serve and every command that opens the database refuse while a restore
// holds it.
func TestRestoreLock(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "authsvc.db")
	openMigrated(t, dbPath).Close()
	p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + dbPath})
	backupPath := filepath.Join(t.TempDir(), "b.db")
	p.run("backup", backupPath).expect(t, 0)

	lock := func(how int) func() {
		f, err := os.OpenFile(dbPath+".lock", os.O_RDWR|os.O_CREATE, 0o600)
		testdb.Must(t, err)
		testdb.Must(t, syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB))
		return func() { f.Close() }
	}
	release := lock(syscall.LOCK_SH)
	r := p.run("restore", backupPath).expect(t, 1)
	if !strings.Contains(r.stderr, "authsvc holds the database") || !strings.Contains(r.stderr, dbPath+".lock") {
		t.Errorf("stderr %q", r.stderr)
	}
	release()

	release = lock(syscall.LOCK_EX)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testdb.Must(t, err)
	p.listen = func(string) (net.Listener, error) { return ln, nil }
	r = p.run("serve").expect(t, 1)
	if !strings.Contains(r.stderr, "a restore of the database") {
		t.Errorf("serve during a restore: stderr %q", r.stderr)
	}
	p.stdin = `{"email":"late@example.com","username":"late"}`
	for _, cmd := range [][]string{
		{"migrate", "status"}, {"keys", "list"}, {"users", "list"}, {"users", "import", "-"},
		{"users", "export"}, {"backup", filepath.Join(t.TempDir(), "c.db")},
	} {
		r = p.run(cmd...).expect(t, 1)
		if !strings.Contains(r.stderr, "a restore of the database") {
			t.Errorf("%v during a restore: stderr %q", cmd, r.stderr)
		}
	}
	release()

	// A users import that is reading its input holds the database: restore
	// refuses until it ends.
	in, feed := io.Pipe()
	reading := make(chan struct{})
	p.input = &firstRead{r: in, started: reading}
	done := make(chan result, 1)
	go func() { done <- p.run("users", "import", "-") }()
	<-reading // it opened the database before it read
	r = p.run("restore", backupPath).expect(t, 1)
	if !strings.Contains(r.stderr, "authsvc holds the database") {
		t.Errorf("restore beside an import: stderr %q", r.stderr)
	}
	fmt.Fprintln(feed, `{"email":"moved@example.com","username":"moved"}`)
	feed.Close()
	if r := <-done; r.code != 0 || !strings.Contains(r.stdout, `"created":1`) {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	p.input = nil
	p.run("restore", backupPath).expect(t, 0)
}

// firstRead is r, closing started at the first Read.
type firstRead struct {
	r       io.Reader
	started chan struct{}
	once    sync.Once
}

func (f *firstRead) Read(b []byte) (int, error) {
	f.once.Do(func() { close(f.started) })
	return f.r.Read(b)
}

// TestRestoreRefusesBadBackups: a file that is not SQLite, a truncated copy,
// a SQLite database that is not authsvc's and one newer than this binary are
// refused, and the database is left as it was.
func TestRestoreRefusesBadBackups(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "authsvc.db")
	st := openMigrated(t, dbPath)
	testdb.Must(t, insertUser(context.Background(), st, "keeper"))
	st.Close()
	p := newProgram(t, map[string]string{"DATABASE_URL": "sqlite://" + dbPath})
	good := filepath.Join(t.TempDir(), "good.db")
	p.run("backup", good).expect(t, 0)
	data, err := os.ReadFile(good)
	testdb.Must(t, err)

	bad := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(bad, name)
		testdb.Must(t, os.WriteFile(path, b, 0o600))
		return path
	}
	corrupt := append([]byte(nil), data...)
	for i := 4096; i < len(corrupt); i += 7 { // pages after the first
		corrupt[i] ^= 0x5a
	}
	foreign := filepath.Join(bad, "foreign.db")
	fst, err := store.Open(context.Background(), "sqlite://"+foreign, store.Options{})
	testdb.Must(t, err)
	fdb, _ := fst.SQL()
	_, err = fdb.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); PRAGMA wal_checkpoint(TRUNCATE)")
	testdb.Must(t, err)
	fst.Close()
	newer := write("newer.db", data)
	nst, err := store.Open(context.Background(), "sqlite://"+newer, store.Options{})
	testdb.Must(t, err)
	ndb, _ := nst.SQL()
	_, err = ndb.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1); PRAGMA wal_checkpoint(TRUNCATE)")
	testdb.Must(t, err)
	nst.Close()

	for name, c := range map[string]struct{ path, want string }{
		"not SQLite": {write("text.db", bytes.Repeat([]byte("not a database\n"), 500)), "not a readable SQLite database"},
		"truncated":  {write("half.db", data[:len(data)/2]), "refused"},
		"corrupt":    {write("corrupt.db", corrupt), "refused"},
		"foreign":    {foreign, "not an authsvc database"},
		"newer":      {newer, "newer than this authsvc's"},
		"absent":     {filepath.Join(bad, "absent.db"), "no such file"},
	} {
		r := p.run("restore", c.path).expect(t, 1)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: stderr %q; want %q", name, r.stderr, c.want)
		}
	}
	if !usernamesIn(t, dbPath)["keeper"] {
		t.Error("a refused restore changed the database")
	}
}
