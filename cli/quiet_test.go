package cli_test

import (
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
)

// TestCommandsLogNothingAtInfo: commands other than serve print their results
// on stdout and leave stderr empty at LOG_LEVEL=info (the default), although
// creating and rotating signing keys logs at info in the service.
func TestCommandsLogNothingAtInfo(t *testing.T) {
	p := newProgram(t, map[string]string{"DATABASE_URL": sqliteURL(t), "LOG_LEVEL": "info"})
	for _, run := range []struct {
		args  []string
		stdin string
		out   string
	}{
		{[]string{"migrate", "up"}, "", ""},
		{[]string{"keys", "list"}, "", "KID"}, // creates the first keys
		{[]string{"keys", "rotate"}, "", "rotated: "},
		{[]string{"admin", "create", "--email", "ops@example.com", "--username", "ops"}, apitest.StrongPassword + "\n", "created admin ops"},
		{[]string{"users", "set-password", "--user", "ops"}, "Harbour-lantern-quietly-93!\n", "set a new password for ops"},
		{[]string{"users", "set-role", "--user", "ops", "--role", "user"}, "", "already holds"},
		{[]string{"users", "list"}, "", "USERNAME"},
		{[]string{"migrate", "status"}, "", "applied"},
	} {
		p.stdin = run.stdin
		r := p.run(run.args...).expect(t, 0)
		if r.stderr != "" {
			t.Errorf("authsvc %s logged at LOG_LEVEL=info:\n%s", strings.Join(run.args, " "), r.stderr)
		}
		if !strings.Contains(r.stdout, run.out) {
			t.Errorf("authsvc %s: stdout %q, want %q", strings.Join(run.args, " "), r.stdout, run.out)
		}
	}
}
