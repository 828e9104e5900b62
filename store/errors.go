package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"regexp"
	"strings"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
)

// ConflictError names the unique constraint a write violated ("email", "username", …).
type ConflictError struct{ Field string }

func (e *ConflictError) Error() string        { return "store: duplicate " + e.Field }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// translate maps driver errors to the store's sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	if field, ok := uniqueViolation(err); ok {
		return &ConflictError{Field: field}
	}
	return err
}

// uniqueFields maps unique constraints and indexes to the field a client sees.
var uniqueFields = map[string]string{
	"users_email_key":    "email",
	"users_username_key": "username",
	"email_key":          "email", // SQLite names the column of a plain unique index
	"username_key":       "username",
	"roles_pkey":         "name",
	// An identity (provider and subject) is linked to one account at most.
	"identities_provider_subject_key": "identity",
	"provider":                        "identity", // SQLite names the first column of the pair
}

// uniqueViolation recognises a unique-constraint failure on either dialect and
// names the field it guards.
func uniqueViolation(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code != "23505" {
			return "", false
		}
		return fieldFor(pgErr.ConstraintName), true
	}
	// SQLite: "UNIQUE constraint failed: index 'users_email_key' (2067)" for
	// expression indexes, "UNIQUE constraint failed: roles.name (1555)" for columns.
	m := sqliteUnique.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	if m[1] != "" {
		return fieldFor(m[1]), true
	}
	_, column, _ := strings.Cut(m[2], ".")
	return fieldFor(column), true
}

var sqliteUnique = regexp.MustCompile(`UNIQUE constraint failed: (?:index '([^']+)'|([\w.]+))`)

func fieldFor(constraint string) string {
	if f, ok := uniqueFields[constraint]; ok {
		return f
	}
	return constraint
}

// IsUnavailable reports whether err means the database could not be reached or
// did not answer in time (503), as opposed to a fault in a query (500).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr), errors.As(err, &connErr):
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exceptions; 57P0x: server shutting down or unavailable.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	// database/sql does not export this error, so its text is all there is.
	return sqliteBusy(err) || strings.Contains(err.Error(), "sql: database is closed")
}

// sqliteBusy reports SQLITE_BUSY ("database is locked": busy_timeout ran out
// waiting for another connection's lock), extended codes included: the primary
// result code is the low byte.
func sqliteBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isLockTimeout reports PostgreSQL's lock_not_available: lock_timeout ran out.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}
