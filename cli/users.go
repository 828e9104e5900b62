package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

const usersUsage = `Usage: authsvc users list|set-role|set-password|import|export
  list [--q TEXT] [--limit N] [--status S] [--role R]
                     list users by id (creation order)
  set-role --user ID|EMAIL|USERNAME --role NAME [--remove]
                     grant (or remove) a role; the user's sessions are revoked
  set-password --user ID|EMAIL|USERNAME
                     set a new password, read from one line of stdin (the
                     password policy applies); the user's sessions are revoked
  import FILE|-      create users from JSON Lines (- for stdin) with their
                     password hashes (bcrypt, argon2id/argon2i, scrypt, PBKDF2);
                     existing emails or usernames are skipped; prints
                     {"created","skipped","errors":[{"line","email","message"}]};
                     exit status 1 when any line failed
  export             write every user as JSON Lines in the import's form
                     (argon2id hashes included)`

func users(ctx context.Context, args []string, env Env) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return usersList(ctx, args[1:], env)
		case "set-role":
			return usersSetRole(ctx, args[1:], env)
		case "set-password":
			return usersSetPassword(ctx, args[1:], env)
		case "import":
			return usersImport(ctx, args[1:], env)
		case "export":
			return usersExport(ctx, args[1:], env)
		case "--help", "-h", "help":
			fmt.Fprintln(env.Stdout, usersUsage)
			return nil
		}
	}
	return fmt.Errorf("%w: authsvc users list|set-role|set-password|import|export (see authsvc users --help)", errUsage)
}

// listPage is how many users one query of users list fetches.
const listPage = 200

func usersList(ctx context.Context, args []string, env Env) error {
	fs := flags("users list", "users list [--q TEXT] [--limit N] [--status S] [--role R]", env)
	q := fs.String("q", "", "only users whose email, username or name contains TEXT (case-insensitive)")
	limit := fs.Int("limit", 50, "at most N users; 0 lists all")
	status := fs.String("status", "", "only this status: pending, active, disabled or locked")
	role := fs.String("role", "", "only holders of this role")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *status != "" && !slices.Contains(models.Statuses, *status) {
		return fmt.Errorf("%w: --status must be one of %s", errUsage, strings.Join(models.Statuses, ", "))
	}
	if *limit < 0 {
		return fmt.Errorf("%w: --limit must be 0 (all) or more", errUsage)
	}
	_, _, st, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	now := env.Now()
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tSTATUS\tROLES")
	f := store.UserFilter{Query: strings.TrimSpace(*q), Role: *role, Status: *status, Now: now}
	for shown := 0; *limit == 0 || shown < *limit; {
		f.Limit = listPage
		if *limit > 0 {
			f.Limit = min(listPage, *limit-shown)
		}
		page, err := st.ListUsers(ctx, f)
		if err != nil {
			return err
		}
		for _, a := range page {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Username, a.Email, a.EffectiveStatus(now), strings.Join(a.Roles, ","))
		}
		shown += len(page)
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	return tw.Flush()
}

func usersSetRole(ctx context.Context, args []string, env Env) error {
	fs := flags("users set-role", "users set-role --user ID|EMAIL|USERNAME --role NAME [--remove]", env)
	who := fs.String("user", "", "the user: id, email or username (required)")
	role := fs.String("role", "", "the role to grant or remove (required)")
	remove := fs.Bool("remove", false, "remove the role instead of granting it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *who == "" || *role == "" {
		return fmt.Errorf("%w: --user and --role are required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	accts, st, acct, err := namedUser(ctx, env, *who)
	if err != nil {
		return err
	}
	defer st.Close()
	roles := append(slices.Clone(acct.Roles), *role)
	if *remove {
		roles = slices.DeleteFunc(slices.Clone(acct.Roles), func(r string) bool { return r == *role })
	}
	if slices.Contains(acct.Roles, *role) != *remove {
		if *remove {
			fmt.Fprintf(env.Stdout, "%s does not hold role %s; nothing changed\n", acct.Username, *role)
		} else {
			fmt.Fprintf(env.Stdout, "%s already holds role %s; nothing changed\n", acct.Username, *role)
		}
		return nil
	}
	revoked, err := st.LiveSessions(ctx, acct.ID, env.Now())
	if err != nil {
		return err
	}
	_, err = accts.Update(ctx, accounts.Operator(), acct.ID, accounts.Changes{Roles: &roles})
	var unknown *accounts.UnknownRoleError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("there is no role %q", unknown.Name)
	case errors.Is(err, accounts.ErrLastAdmin):
		return fmt.Errorf("refused: %s is the last active admin; make another user admin first", acct.Username)
	case errors.Is(err, accounts.ErrUserNotFound):
		return fmt.Errorf("user %s was deleted meanwhile", acct.Username)
	case err != nil:
		return err
	case *remove:
		fmt.Fprintf(env.Stdout, "removed role %s from %s; %d session(s) revoked\n", *role, acct.Username, len(revoked))
	default:
		fmt.Fprintf(env.Stdout, "granted role %s to %s; %d session(s) revoked\n", *role, acct.Username, len(revoked))
	}
	return nil
}

// usersSetPassword is the operator's way back into an account whose password
// is lost, the bootstrap admin's included.
func usersSetPassword(ctx context.Context, args []string, env Env) error {
	fs := flags("users set-password", "users set-password --user ID|EMAIL|USERNAME   (the new password is read from stdin)", env)
	who := fs.String("user", "", "the user: id, email or username (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *who == "" {
		return fmt.Errorf("%w: --user is required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	accts, st, acct, err := namedUser(ctx, env, *who)
	if err != nil {
		return err
	}
	defer st.Close()
	pw, err := readPassword(env, "")
	if err != nil {
		return err
	}
	revoked, err := st.LiveSessions(ctx, acct.ID, env.Now())
	if err != nil {
		return err
	}
	_, err = accts.Update(ctx, accounts.Operator(), acct.ID, accounts.Changes{Password: &pw})
	var weak *accounts.WeakPasswordError
	switch {
	case errors.As(err, &weak):
		return fmt.Errorf("refused: the password is too weak: %s", weak.Reason)
	case errors.Is(err, accounts.ErrUserNotFound):
		return fmt.Errorf("user %s was deleted meanwhile", acct.Username)
	case err != nil:
		return err
	}
	fmt.Fprintf(env.Stdout, "set a new password for %s; %d session(s) revoked\n", acct.Username, len(revoked))
	return nil
}

// namedUser opens the account service and finds the user --user names (who);
// the caller closes st.
func namedUser(ctx context.Context, env Env, who string) (*accounts.Service, *heldStore, *store.Account, error) {
	_, accts, st, err := openAccounts(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	acct, err := findUser(ctx, st.Store, who)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return accts, st, acct, nil
}

// findUser resolves --user: an id, else an email or username.
func findUser(ctx context.Context, st *store.Store, who string) (*store.Account, error) {
	var acct *store.Account
	var err error
	if id, perr := uuid.Parse(who); perr == nil {
		acct, err = st.UserByID(ctx, id)
	} else {
		acct, err = st.UserByLogin(ctx, who)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no user with id, email or username %q", who)
	}
	return acct, err
}
