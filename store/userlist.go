package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/models"
)

// UserFilter selects a page of users for ListUsers. Pages are keyset-paginated
// by id (UUIDv7, so roughly creation order): After is the last id of the
// previous page. No OFFSET, so concurrent inserts never shift a page.
type UserFilter struct {
	// Query matches a substring of the email, username, first or last name, case-insensitively.
	Query string
	// Directory restricts the listing to what any signed-in user may see: Query
	// searches only the public fields, and only active accounts are listed.
	Directory bool
	Role      string
	// Status is pending, active (and not locked), disabled or locked; "" is any.
	Status string
	// Verified, when set, keeps the users whose email is (or is not) verified.
	Verified *bool
	Now      time.Time // decides what "locked" means
	After    uuid.UUID
	Limit    int
	// Window bounds a search that no index serves (see ListUsersPage) to this
	// many users after After; 0 is SearchWindow.
	Window int
}

// UserPage is a page of users with their grants, in id order.
type UserPage struct {
	Users []*Account
	// Next is After for the following page: the last user's id when the page
	// is full, the end of the scanned window when a bounded search stopped
	// there (the page may then be short, even empty), uuid.Nil when no later
	// user can match.
	Next uuid.UUID
}

// ListUsersPage returns at most f.Limit accounts with their grants, in id
// order, in a fixed number of queries whatever the size of the table or of
// the page: the ids by the primary key, a search by the trigram indexes on
// PostgreSQL (migration 00006). A search that no index serves scans at most
// f.Window users after f.After; when that window holds fewer than f.Limit
// matches the page is short and Next resumes after the window.
func (s *Store) ListUsersPage(ctx context.Context, f UserFilter) (*UserPage, error) {
	users, next, err := s.listUserRows(ctx, f)
	if err != nil {
		return nil, err
	}
	accts, err := s.withGrantsOf(ctx, users)
	if err != nil {
		return nil, err
	}
	return &UserPage{Users: accts, Next: next}, nil
}

// ListUsers returns at most f.Limit accounts with their grants, in id order:
// every match up to the limit, going on through bounded windows (see
// ListUsersPage) until the page is full or the table ends. For the command
// line; the API serves ListUsersPage, whose cost is bounded.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]*Account, error) {
	var users []models.User
	for limit := f.Limit; len(users) < limit; {
		page, next, err := s.listUserRows(ctx, f)
		if err != nil {
			return nil, err
		}
		users = append(users, page...)
		if next == uuid.Nil {
			break
		}
		f.After, f.Limit = next, limit-len(users)
	}
	return s.withGrantsOf(ctx, users)
}

// listUserRows selects the users of one page and says where the next begins.
func (s *Store) listUserRows(ctx context.Context, f UserFilter) ([]models.User, uuid.UUID, error) {
	var windowEnd uuid.UUID
	if f.Query != "" && s.boundedSearch(f.Query) {
		var ends []uuid.UUID
		if err := s.windowQuery(ctx, f).Find(&ends).Error; err != nil {
			return nil, uuid.Nil, err
		}
		if len(ends) > 0 { // else the window reaches the end of the table
			windowEnd = ends[0]
		}
	}
	var users []models.User
	if err := s.usersQuery(ctx, f, windowEnd).Find(&users).Error; err != nil {
		return nil, uuid.Nil, err
	}
	if f.Limit > 0 && len(users) == f.Limit {
		return users, users[len(users)-1].ID, nil
	}
	return users, windowEnd, nil // Nil unless a window ended before the table did
}

// usersQuery selects the users f asks for, in id order, at most f.Limit, and
// none past windowEnd unless it is uuid.Nil.
func (s *Store) usersQuery(ctx context.Context, f UserFilter, windowEnd uuid.UUID) *gorm.DB {
	q := s.conn(ctx).Model(&models.User{})
	if f.After != uuid.Nil {
		q = q.Where("users.id > ?", f.After)
	}
	if windowEnd != uuid.Nil {
		q = q.Where("users.id <= ?", windowEnd)
	}
	if f.Query != "" {
		q = matchQuery(q, f.Query, f.Directory)
	}
	if f.Role != "" {
		q = q.Where("EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = users.id AND ur.role_name = ?)", f.Role)
	}
	q = statusFilter(q, f.Status, f.Now)
	if f.Verified != nil {
		if *f.Verified {
			q = q.Where("users.email_verified_at IS NOT NULL")
		} else {
			q = q.Where("users.email_verified_at IS NULL")
		}
	}
	if f.Directory {
		q = q.Where("users.status = ?", models.StatusActive)
	}
	return q.Order("users.id").Limit(f.Limit)
}

func statusFilter(q *gorm.DB, status string, now time.Time) *gorm.DB {
	switch status {
	case models.StatusPending, models.StatusDisabled:
		return q.Where("users.status = ?", status)
	case models.StatusActive:
		return q.Where("users.status = ? AND (users.locked_until IS NULL OR users.locked_until <= ?)", models.StatusActive, now)
	case models.StatusLocked:
		return q.Where("users.status = ? AND users.locked_until > ?", models.StatusActive, now)
	}
	return q
}
