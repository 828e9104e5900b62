package store

import (
	"context"
	"time"

	"github.com/authsvc/authsvc/models"
)

// SigningKeys returns the signing keys in the given states (all when none are
// given), newest first.
func (s *Store) SigningKeys(ctx context.Context, states ...string) ([]models.SigningKey, error) {
	q := s.conn(ctx).Order("created_at DESC, kid")
	if len(states) > 0 {
		q = q.Where("state IN ?", states)
	}
	var keys []models.SigningKey
	if err := q.Find(&keys).Error; err != nil {
		return nil, translate(err)
	}
	return keys, nil
}

// InsertSigningKey adds a key. A second current or next key is an ErrConflict
// (the partial unique index), which is how concurrent start-ups find out that
// another instance created the keys first.
func (s *Store) InsertSigningKey(ctx context.Context, k models.SigningKey) error {
	return translate(s.conn(ctx).Create(&k).Error)
}

// CreateSigningKeys inserts each given key (state current or next) unless a key
// in that state already exists, in one transaction, and returns the ones it
// inserted. Instances starting together on PostgreSQL may still collide on
// the partial unique index: ErrConflict means another one won.
func (s *Store) CreateSigningKeys(ctx context.Context, keys ...models.SigningKey) ([]models.SigningKey, error) {
	var created []models.SigningKey
	err := s.InTx(ctx, func(tx *Store) error {
		for _, k := range keys {
			var n int64
			if err := tx.conn(ctx).Model(&models.SigningKey{}).Where("state = ?", k.State).Count(&n).Error; err != nil {
				return translate(err)
			}
			if n > 0 {
				continue
			}
			if err := tx.InsertSigningKey(ctx, k); err != nil {
				return err
			}
			created = append(created, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// RotateSigningKeys promotes the next key to current, demotes the current key to
// retiring until retireAfter, retires retiring keys whose time has passed, and
// inserts next as the new next key, all in one transaction. due is asked with
// the current key once it is locked, so of several instances rotating together
// only the first does; when due says no, nothing changes and rotated is false.
// It returns the current key after the call. ErrNotFound: there is no current or
// no next key (run Ensure first). When it rotates, the event made by record (may
// be nil) is written in the same transaction.
func (s *Store) RotateSigningKeys(ctx context.Context, now time.Time, next models.SigningKey, retireAfter time.Time,
	due func(current models.SigningKey) bool, record func(current, previous models.SigningKey) *models.AuditEvent) (current models.SigningKey, rotated bool, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		// Lock both rows that change. On PostgreSQL a second rotator waits here
		// and then sees the committed result: the old next row, now current
		// (the old current no longer matches and the new next is not yet visible
		// to this statement).
		var rows []models.SigningKey
		q := tx.conn(ctx).Where("state IN ?", []string{models.KeyCurrent, models.KeyNext}).Order("kid") // one lock order: no deadlocks
		if err := tx.forUpdate(q).Find(&rows).Error; err != nil {
			return translate(err)
		}
		cur, ok := pickSigningKey(rows, models.KeyCurrent)
		if !ok {
			return ErrNotFound
		}
		current = cur
		if !due(cur) {
			return nil
		}
		// The next key is read again: a rotator that waited on the lock above
		// did not see the next key its predecessor inserted.
		var nxt models.SigningKey
		if err := tx.conn(ctx).Where("state = ?", models.KeyNext).Take(&nxt).Error; err != nil {
			return translate(err)
		}
		// Order matters for the unique index: free "current" before taking it,
		// and "next" before inserting the new one.
		if err := tx.updateSigningKey(ctx, cur.KID, map[string]any{"state": models.KeyRetiring, "retire_after": retireAfter}); err != nil {
			return err
		}
		if err := tx.updateSigningKey(ctx, nxt.KID, map[string]any{"state": models.KeyCurrent, "activated_at": now}); err != nil {
			return err
		}
		if _, err := tx.retireDueSigningKeys(ctx, now); err != nil {
			return err
		}
		next.State = models.KeyNext
		next.ActivatedAt, next.RetireAfter = nil, nil
		if err := tx.InsertSigningKey(ctx, next); err != nil {
			return err
		}
		nxt.State, nxt.ActivatedAt = models.KeyCurrent, &now
		current, rotated = nxt, true
		// Every instance reloads its keys at once rather than at its next
		// tick, and the rotation returns once each has been told to.
		if err := tx.changed(ctx, Change{Keys: true}); err != nil {
			return err
		}
		tx.AwaitPropagation()
		if record != nil {
			return tx.AddAudit(ctx, record(nxt, cur))
		}
		return nil
	})
	if err != nil {
		return models.SigningKey{}, false, err
	}
	return current, rotated, nil
}

// RetireSigningKeys moves retiring keys whose RetireAfter has passed to retired
// and reports how many.
func (s *Store) RetireSigningKeys(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		n, err = tx.retireDueSigningKeys(ctx, now)
		return err
	})
	return n, err
}

// retireDueSigningKeys does RetireSigningKeys inside the caller's transaction. Times are
// compared in Go, not SQL, because SQLite keeps them as text.
func (s *Store) retireDueSigningKeys(ctx context.Context, now time.Time) (int, error) {
	var rows []models.SigningKey
	q := s.conn(ctx).Where("state = ?", models.KeyRetiring)
	if err := s.forUpdate(q).Find(&rows).Error; err != nil {
		return 0, translate(err)
	}
	n := 0
	for _, k := range rows {
		if k.RetireAfter == nil || k.RetireAfter.After(now) {
			continue
		}
		if err := s.updateSigningKey(ctx, k.KID, map[string]any{"state": models.KeyRetired}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Store) updateSigningKey(ctx context.Context, kid string, fields map[string]any) error {
	res := s.conn(ctx).Model(&models.SigningKey{}).Where("kid = ?", kid).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

func pickSigningKey(rows []models.SigningKey, state string) (models.SigningKey, bool) {
	for _, k := range rows {
		if k.State == state {
			return k, true
		}
	}
	return models.SigningKey{}, false
}
