package accounts

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/store"
)

// AbandonSession ends a session just opened whose tokens were never handed
// out (the token hook failed closed), so that it does not linger in the
// user's list; reason is recorded as the revocation's.
func (s *Service) AbandonSession(ctx context.Context, sessionID uuid.UUID, reason string) error {
	return s.store.InTx(ctx, func(tx *store.Store) error {
		_, err := s.sessions.Revoke(ctx, tx, store.Revoke{SessionID: sessionID, Reason: reason})
		return err
	})
}
