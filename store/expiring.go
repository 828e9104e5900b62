package store

import (
	"context"
	"time"
)

// createDroppingExpired inserts row, and first drops every row of its table
// (model: a zero row of it) that expired by now: the housekeeping of
// short-lived rows (second steps, ceremonies, flows, codes) as they are made.
func (s *Store) createDroppingExpired(ctx context.Context, row, model any, now time.Time) error {
	if err := s.conn(ctx).Where("expires_at <= ?", now).Delete(model).Error; err != nil {
		return err
	}
	return translate(s.conn(ctx).Create(row).Error)
}
