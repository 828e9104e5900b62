package store

import "context"

// CountUsers counts every user, exactly, without scanning them: it sums the
// counter that triggers on users keep (migration 00005, user_count).
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Raw("SELECT CAST(COALESCE(SUM(n), 0) AS bigint) FROM user_count").Scan(&n).Error
	return n, err
}
