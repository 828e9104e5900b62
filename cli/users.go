package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/store"
)

func policyFor(cfg config.Config) password.Policy {
	return password.Policy{MinScore: cfg.PasswordMinScore}
}

const usersUsage = `Usage: authsvc users list|set-role
  list [--q TEXT] [--limit N] [--status S] [--role R]
                     list users by id (creation order)
  set-role --user ID|EMAIL|USERNAME --role NAME [--remove]
                     grant (or remove) a role; the user's sessions are revoked`

func users(ctx context.Context, args []string, env Env) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return usersList(ctx, args[1:], env)
		case "set-role":
			return usersSetRole(ctx, args[1:], env)
		case "--help", "-h", "help":
			fmt.Fprintln(env.Stdout, usersUsage)
			return nil
		}
	}
	return fmt.Errorf("%w: authsvc users list|set-role (see authsvc users --help)", errUsage)
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
	switch *status {
	case "", models.StatusPending, models.StatusActive, models.StatusDisabled, models.StatusLocked:
	default:
		return fmt.Errorf("%w: --status must be pending, active, disabled or locked", errUsage)
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
	cfg, _, st, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.EnsureBuiltinRoles(ctx, env.Now()); err != nil {
		return err
	}
	acct, err := findUser(ctx, st, *who)
	if err != nil {
		return err
	}
	ch := roleChange{userID: acct.ID, role: *role, remove: *remove, now: env.Now(), accessTTL: cfg.AccessTokenTTL}
	err = st.InTx(ctx, func(tx *store.Store) error {
		if *remove {
			return tx.GuardLastAdmin(ctx, func() error { return ch.apply(ctx, tx) })
		}
		return ch.apply(ctx, tx)
	})
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return fmt.Errorf("refused: %s is the last active admin; make another user admin first", acct.Username)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("user %s was deleted meanwhile", acct.Username)
	case err != nil:
		return err
	case !ch.changed && *remove:
		fmt.Fprintf(env.Stdout, "%s does not hold role %s; nothing changed\n", acct.Username, *role)
	case !ch.changed:
		fmt.Fprintf(env.Stdout, "%s already holds role %s; nothing changed\n", acct.Username, *role)
	case *remove:
		fmt.Fprintf(env.Stdout, "removed role %s from %s; %d session(s) revoked\n", *role, acct.Username, ch.revoked)
	default:
		fmt.Fprintf(env.Stdout, "granted role %s to %s; %d session(s) revoked\n", *role, acct.Username, ch.revoked)
	}
	return nil
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

// roleChange grants or removes one role, and records what it did.
type roleChange struct {
	userID    uuid.UUID
	role      string
	remove    bool
	now       time.Time
	accessTTL time.Duration

	changed bool
	revoked int
}

// apply changes the roles on tx, revokes the user's sessions (their tokens carry
// the old roles) and writes role_changed, all in the one transaction.
func (ch *roleChange) apply(ctx context.Context, tx *store.Store) error {
	// Role row before user row, the order the API's transactions lock in.
	unknown, err := tx.UnknownRoles(ctx, []string{ch.role})
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return fmt.Errorf("there is no role %q", ch.role)
	}
	acct, err := tx.LockUser(ctx, ch.userID)
	if err != nil {
		return err
	}
	has := slices.Contains(acct.Roles, ch.role)
	if has != ch.remove {
		return nil
	}
	roles := append(slices.Clone(acct.Roles), ch.role)
	added, removed := []string{ch.role}, []string{}
	if ch.remove {
		roles = slices.DeleteFunc(slices.Clone(acct.Roles), func(r string) bool { return r == ch.role })
		added, removed = removed, added
	}
	if err := tx.SetRoles(ctx, acct.ID, roles); err != nil {
		return err
	}
	if err := tx.UpdateUser(ctx, acct.ID, ch.now, map[string]any{}); err != nil {
		return err
	}
	ids, err := tx.RevokeSessions(ctx, store.Revoke{UserIDs: []uuid.UUID{acct.ID}, Reason: "role_changed", Now: ch.now, AccessTTL: ch.accessTTL})
	if err != nil {
		return err
	}
	ch.changed, ch.revoked = true, len(ids)
	return tx.AddAudit(ctx, audit.Event(audit.RoleChanged, ch.now, uuid.Nil, acct.ID, audit.Client{IP: "local"},
		audit.Details{"added": added, "removed": removed, "sessions_revoked": len(ids), "via": "command line"}))
}
