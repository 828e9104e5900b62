package cli_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/store"
)

type importOut struct {
	Created, Skipped int
	Errors           []struct {
		Line           int
		Email, Message string
	}
}

func decodeImport(t *testing.T, r usersRun) importOut {
	t.Helper()
	var out importOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("import output %q: %v", r.stdout, err)
	}
	return out
}

// Export from one database, import into the other: the users log in with
// their passwords on the new one.
func TestUsersExportImport(t *testing.T) {
	for _, from := range []string{store.SQLite, store.Postgres} {
		to := store.Postgres
		if from == store.Postgres {
			to = store.SQLite
		}
		t.Run(from+"-to-"+to, func(t *testing.T) {
			src := newUsersCLI(t, from)
			src.e.Signup("alice")
			bob := src.e.Signup("bob")
			src.e.As(src.e.AdminLogin().AccessToken, "PATCH", "/v1/users/"+bob["id"].(string),
				map[string]any{"first_name": "Bob"}).Expect(http.StatusOK)
			export := src.run("users", "export").expect(t, 0).stdout
			lines := strings.Split(strings.TrimSpace(export), "\n")
			if len(lines) != 3 || !strings.Contains(export, `"password_hash":"$argon2id$`) || !strings.Contains(export, `"first_name":"Bob"`) {
				t.Fatalf("export = %s", export)
			}

			dst := newUsersCLI(t, to)
			dst.stdin = export + "{not json\n\n" + `{"email":"bad","username":"badone"}` + "\n" + `{"email":"x@example.com","username":"xxx","pasword_hash":"typo"}` + "\n"
			r := dst.run("users", "import", "-").expect(t, 1)
			out := decodeImport(t, r)
			// root exists in both: skipped; line 5 is blank.
			if out.Created != 2 || out.Skipped != 1 || len(out.Errors) != 3 ||
				out.Errors[0].Line != 4 || out.Errors[1].Line != 6 || out.Errors[1].Email != "bad" || out.Errors[2].Line != 7 {
				t.Fatalf("import = %+v", out)
			}
			if strings.Contains(r.stdout+r.stderr, "$argon2id$") {
				t.Error("the import output echoes a hash")
			}
			dst.e.Login("alice", apitest.StrongPassword)
			dst.e.Login("bob@example.com", apitest.StrongPassword)
			dst.e.Request("POST", "/v1/auth/login", map[string]any{"login": "root", "password": apitest.StrongPassword}).Expect(http.StatusUnauthorized)

			// From a file, everything already there: exit 0.
			file := filepath.Join(t.TempDir(), "users.jsonl")
			if err := os.WriteFile(file, []byte(export), 0o600); err != nil {
				t.Fatal(err)
			}
			if out := decodeImport(t, dst.run("users", "import", file).expect(t, 0)); out.Created != 0 || out.Skipped != 3 {
				t.Errorf("second import = %+v", out)
			}
			dst.run("users", "import").expect(t, 2)
		})
	}
}
