package accounts

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// ImportBatch is how many users one transaction of an import inserts (one
// multi-row statement, one users_imported audit event).
const ImportBatch = 500

// ImportUser is one user moved in from another system, in the form of
// `authsvc users import` (JSON Lines), POST /v1/users/import and
// `authsvc users export`.
type ImportUser struct {
	Email     string `json:"email" example:"ada@example.com"`
	Username  string `json:"username" example:"ada"`
	FirstName string `json:"first_name,omitempty" example:"Ada"`
	LastName  string `json:"last_name,omitempty" example:"Lovelace"`
	// Roles default to ["user"] when absent; [] means none.
	Roles []string `json:"roles" example:"user"`
	// Status is active (the default), pending or disabled.
	Status        string `json:"status,omitempty" enums:"active,pending,disabled" example:"active"`
	EmailVerified bool   `json:"email_verified" example:"true"`
	// CreatedAt is RFC 3339; absent: the time of the import.
	CreatedAt string `json:"created_at,omitempty" example:"2021-03-04T05:06:07Z"`
	// PasswordHash is bcrypt ($2a$, $2b$, $2y$), argon2id or argon2i (PHC),
	// scrypt ($scrypt$…), PBKDF2-SHA256/-SHA512 (Werkzeug pbkdf2:sha256:…,
	// Django pbkdf2_sha256$…, PHC $pbkdf2-sha256$…); empty: no password (the
	// user sets one by a password reset).
	PasswordHash string `json:"password_hash" example:"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"`
} // @name ImportUser

// ImportError is a record that was not imported: its position in the input,
// its email as given, and why. It never holds the hash.
type ImportError struct {
	Index   int
	Email   string
	Message string
}

// ImportResult counts what an import did.
type ImportResult struct {
	Created, Skipped int
	Errors           []ImportError
}

var importUsername = regexp.MustCompile(`^[A-Za-z0-9._-]{3,32}$`) // as handlers' "username"

// Import creates the users that are valid and whose email and username are
// free; an existing email or username is skipped, not changed. Users are
// inserted ImportBatch at a time, each batch in a transaction with its audit
// event. Passwords keep their hashes: the login checks them with their own
// algorithm and replaces them with Argon2id.
func (s *Service) Import(ctx context.Context, actor Actor, users []ImportUser) (ImportResult, error) {
	var res ImportResult
	if err := s.authorize(actor, policy.ImportUsers); err != nil {
		return res, err
	}
	grants := map[string]error{} // a role set: checkGrant's answer
	var batch []store.ImportRow
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		now := s.now()
		err := s.store.InTx(ctx, func(tx *store.Store) error {
			inserted, err := tx.ImportUsers(ctx, batch)
			if err != nil {
				return err
			}
			created := 0
			for _, ok := range inserted {
				if ok {
					created++
				}
			}
			details := actor.Details(audit.Details{"created": created, "skipped": len(batch) - created})
			if err := tx.AddAudit(ctx, audit.Event(audit.UsersImported, now, actor.ID(), uuid.Nil, actor.Client, details)); err != nil {
				return err
			}
			res.Created += created
			res.Skipped += len(batch) - created
			return nil
		})
		batch = batch[:0]
		return err
	}
	for i, in := range users {
		row, msg := s.importRow(ctx, actor, in, grants)
		if msg != "" {
			res.Errors = append(res.Errors, ImportError{Index: i, Email: in.Email, Message: msg})
			continue
		}
		batch = append(batch, row)
		if len(batch) == ImportBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}

// importRow validates one user as account creation does, and makes its row.
func (s *Service) importRow(ctx context.Context, actor Actor, in ImportUser, grants map[string]error) (store.ImportRow, string) {
	var row store.ImportRow
	email := mailaddr.ASCII(in.Email)
	if a, err := mailaddr.Normalize(email); err != nil || a != email || len(email) > 254 {
		return row, "email: not a valid address"
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
		return row, "email: not a valid address"
	}
	username := strings.TrimSpace(in.Username)
	if !importUsername.MatchString(username) {
		return row, "username: 3 to 32 letters, digits, '.', '_' or '-'"
	}
	first, last := strings.TrimSpace(in.FirstName), strings.TrimSpace(in.LastName)
	if utf8.RuneCountInString(first) > 100 || utf8.RuneCountInString(last) > 100 {
		return row, "first_name, last_name: at most 100 characters"
	}
	status := in.Status
	switch status {
	case "":
		status = models.StatusActive
	case models.StatusActive, models.StatusPending, models.StatusDisabled:
	default:
		return row, "status: one of active, pending, disabled"
	}
	roles := []string{models.RoleUser}
	if in.Roles != nil {
		roles = models.SortedSet(in.Roles)
	}
	if len(roles) > 20 {
		return row, "roles: at most 20"
	}
	key := strings.Join(roles, "\x00")
	err, done := grants[key]
	if !done {
		err = checkGrant(ctx, s.store, actor, roles)
		grants[key] = err
	}
	switch e := err.(type) {
	case nil:
	case *UnknownRoleError:
		return row, fmt.Sprintf("roles: no role %q", e.Name)
	default:
		if err == ErrBeyondOwnRights {
			return row, "roles: beyond the importer's own permissions"
		}
		return row, "roles: cannot be checked"
	}
	now := s.now()
	created := now
	if in.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339, in.CreatedAt)
		if err != nil {
			return row, "created_at: not an RFC 3339 time"
		}
		created = t.UTC()
	}
	if in.PasswordHash != "" {
		if err := password.CheckImportable(in.PasswordHash); err != nil {
			return row, "password_hash: " + strings.TrimPrefix(err.Error(), "password: ")
		}
	}
	u := models.User{
		ID: uuid.Must(uuid.NewV7()), Email: email, Username: username, FirstName: first, LastName: last,
		PasswordHash: in.PasswordHash, Status: status, CreatedAt: created, UpdatedAt: now,
	}
	if in.EmailVerified {
		u.EmailVerifiedAt = &created
	}
	return store.ImportRow{User: u, Roles: roles}, ""
}
