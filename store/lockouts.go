package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/authsvc/authsvc/models"
)

// Lockout is the failed-login state of an account or of an unknown identifier.
type Lockout struct {
	FailedLogins int
	LockCount    int
	LockedUntil  *time.Time
}

// LockUserLockout reads an account's failed-login state inside tx and locks
// its row for the rest of tx (PostgreSQL; SQLite's write lock serves), so
// that concurrent attempts count one after another. It reads only the
// lockout's columns: the grants LockUser loads are no concern here.
func (s *Store) LockUserLockout(ctx context.Context, id uuid.UUID) (Lockout, error) {
	var u models.User
	if err := s.forUpdate(s.conn(ctx)).Select("failed_logins", "lock_count", "locked_until").Take(&u, "id = ?", id).Error; err != nil {
		return Lockout{}, translate(err)
	}
	return Lockout{FailedLogins: u.FailedLogins, LockCount: u.LockCount, LockedUntil: u.LockedUntil}, nil
}

// LockIdentifierLockout reads the state of an unknown identifier inside tx and
// locks it for the rest of tx, creating the row first so that concurrent
// failures queue on it (PostgreSQL) instead of both counting from zero.
func (s *Store) LockIdentifierLockout(ctx context.Context, key []byte, now time.Time) (Lockout, error) {
	row := models.LoginLockout{KeyHash: key, UpdatedAt: now}
	if err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return Lockout{}, err
	}
	var l models.LoginLockout
	if err := s.forUpdate(s.conn(ctx)).Take(&l, "key_hash = ?", key).Error; err != nil {
		return Lockout{}, translate(err)
	}
	return Lockout{FailedLogins: l.FailedLogins, LockCount: l.LockCount, LockedUntil: l.LockedUntil}, nil
}

// SetIdentifierLockout writes the state of an unknown identifier; old rows
// (no failure for a day) are dropped on the way, so guesses at random
// identifiers cannot grow the table without bound.
func (s *Store) SetIdentifierLockout(ctx context.Context, key []byte, l Lockout, now time.Time) error {
	if err := s.conn(ctx).Where("updated_at < ?", now.Add(-24*time.Hour)).Delete(&models.LoginLockout{}).Error; err != nil {
		return err
	}
	return s.conn(ctx).Model(&models.LoginLockout{}).Where("key_hash = ?", key).UpdateColumns(map[string]any{
		"failed_logins": l.FailedLogins, "lock_count": l.LockCount, "locked_until": l.LockedUntil, "updated_at": now,
	}).Error
}

// SetUserLockout writes an account's failed-login state l in place of was.
// Not a change of the user: updated_at stays. Every login attempt writes its
// count, so only a change of the lock itself, the one part of it that a view
// of the user shows (status locked), is announced to the caches.
func (s *Store) SetUserLockout(ctx context.Context, id uuid.UUID, was, l Lockout) error {
	if err := s.conn(ctx).Model(&models.User{}).Where("id = ?", id).UpdateColumns(map[string]any{
		"failed_logins": l.FailedLogins, "lock_count": l.LockCount, "locked_until": l.LockedUntil,
	}).Error; err != nil {
		return err
	}
	if sameLock(was.LockedUntil, l.LockedUntil) {
		return nil
	}
	return s.userChanged(ctx, id)
}

func sameLock(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}
