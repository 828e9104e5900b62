package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/store"
)

func admin(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(env.Stdout, "Usage: authsvc admin create --email E --username U  (password from stdin or ADMIN_PASSWORD)")
			return nil
		}
		return fmt.Errorf("%w: authsvc admin create --email E --username U", errUsage)
	}
	fs := flags("admin create", "admin create --email E --username U   (password read from stdin, or ADMIN_PASSWORD)", env)
	email := fs.String("email", "", "the admin's email address (required)")
	username := fs.String("username", "", "the admin's username (required)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *email == "" || *username == "" {
		return fmt.Errorf("%w: --email and --username are required", errUsage)
	}
	addr, err := mailaddr.Normalize(*email)
	if err != nil {
		return fmt.Errorf("%w: --email %q: only ASCII before the @ and a valid domain after it", errUsage, *email)
	}
	cfg, accts, st, err := openAccounts(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	pw := cfg.AdminPassword
	if pw == "" {
		pw, err = readPassword(env, " or set ADMIN_PASSWORD")
		if err != nil {
			return err
		}
	}
	acct, err := accts.CreateAdmin(ctx, accounts.Profile{Email: addr, Username: *username}, pw)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		return fmt.Errorf("a user with that %s already exists", conflict.Field)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created admin %s (%s, id %s)\n", acct.Username, acct.Email, acct.ID)
	return nil
}

// readPassword reads one line from stdin; or names another way to give it,
// for the message when there is none.
func readPassword(env Env, or string) (string, error) {
	missing := errors.New("no password: pipe it on stdin" + or)
	if env.Stdin == nil {
		return "", missing
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil {
			return "", missing
		}
		return "", errors.New("the password on stdin is empty")
	}
	return line, nil
}
