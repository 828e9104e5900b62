package store

import "context"

// ApplyVersion applies (up) or rolls back (down) exactly one migration,
// whatever is applied after it: for tests that redo one migration on data
// loaded meanwhile.
func (m *Migrator) ApplyVersion(ctx context.Context, version int64, up bool) error {
	_, err := m.p.ApplyVersion(ctx, version, up)
	return err
}
