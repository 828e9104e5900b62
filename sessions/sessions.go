// Package sessions starts, refreshes and ends login sessions. A session has an
// absolute lifetime and a chain of single-use refresh tokens; only MACs of the
// tokens are stored.
package sessions

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

const macPurpose = "refresh-token"

var (
	// ErrInvalid: unknown, expired or revoked refresh token.
	ErrInvalid = errors.New("sessions: refresh token is not valid")
	// ErrReused: a retired refresh token came back after its grace window; the session is now revoked.
	ErrReused = errors.New("sessions: refresh token reused")
)

type Config struct {
	SessionTTL  time.Duration
	RememberTTL time.Duration
	AccessTTL   time.Duration
	// Grace is how long the most recently retired refresh token still returns its successor.
	Grace time.Duration
}

type Service struct {
	st  *store.Store
	key *secret.Key
	cfg Config
	now func() time.Time
}

func New(st *store.Store, key *secret.Key, cfg Config, now func() time.Time) *Service {
	return &Service{st: st, key: key, cfg: cfg, now: now}
}

// Opening is what a login knows of the session it opens.
type Opening struct {
	UserID   uuid.UUID
	Remember bool // the longer lifetime
	// AMR is how the user was authenticated (RFC 8176 values): every access
	// token of the session carries it, refreshes included.
	AMR []string
	// FactorID is the passkey or linked identity the session was opened with
	// (uuid.Nil for none): removing it ends the session.
	FactorID uuid.UUID
	// IDP is the provider of that identity ("" for none); tokens carry it.
	IDP    string
	Client audit.Client
}

// Start opens a session on tx and returns it with its first refresh token.
func (s *Service) Start(ctx context.Context, tx *store.Store, o Opening) (*models.Session, string, error) {
	now := s.now()
	ttl := s.cfg.SessionTTL
	if o.Remember {
		ttl = s.cfg.RememberTTL
	}
	sess := &models.Session{
		ID: uuid.Must(uuid.NewV7()), UserID: o.UserID,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(ttl),
		IP: o.Client.IP, UserAgent: o.Client.UserAgent, Remember: o.Remember, AMR: strings.Join(o.AMR, " "),
		IDP: o.IDP,
	}
	if o.FactorID != uuid.Nil {
		sess.FactorID = &o.FactorID
	}
	plain, rt := s.newRefreshToken(sess.ID, now)
	if err := tx.CreateSession(ctx, sess, rt); err != nil {
		return nil, "", err
	}
	return sess, plain, nil
}

func (s *Service) newRefreshToken(sessionID uuid.UUID, now time.Time) (string, *models.RefreshToken) {
	plain := secret.Token()
	return plain, &models.RefreshToken{
		ID: uuid.Must(uuid.NewV7()), SessionID: sessionID,
		TokenHash: s.key.MAC(macPurpose, []byte(plain)), CreatedAt: now,
	}
}

// Refreshed is the outcome of a refresh: the session and its current refresh token.
type Refreshed struct {
	Session      models.Session
	RefreshToken string
}

// Refresh exchanges a refresh token for its successor. The token just retired,
// presented again within the grace window, returns the same successor (clients
// with several tabs or a lost response); any other retired token revokes the
// session and returns ErrReused.
func (s *Service) Refresh(ctx context.Context, plain string, c audit.Client) (*Refreshed, error) {
	if plain == "" || len(plain) > 256 {
		return nil, ErrInvalid
	}
	hash := s.key.MAC(macPurpose, []byte(plain))
	var out *Refreshed
	reused := false
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		now := s.now()
		// Lock the session first, then read the token: concurrent refreshes of
		// one session queue here and each sees the previous one's outcome.
		sess, err := tx.UseSessionOf(ctx, hash, now, c.IP, c.UserAgent)
		if err != nil {
			return err
		}
		rt, err := tx.RefreshTokenByHash(ctx, hash)
		if err != nil {
			return err
		}
		if rt.RetiredAt == nil {
			next, nextRT := s.newRefreshToken(sess.ID, now)
			sealed := s.key.Seal([]byte(next), rt.ID[:])
			ok, err := tx.RetireRefreshToken(ctx, rt.ID, nextRT, sealed, now)
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("sessions: refresh token retired concurrently despite the session lock")
			}
			if err := tx.AddAudit(ctx, audit.Event(audit.TokenRefreshed, now, sess.UserID, sess.UserID, c,
				audit.Details{"session_id": sess.ID})); err != nil {
				return err
			}
			out = &Refreshed{Session: *sess, RefreshToken: next}
			return nil
		}
		if next, ok := s.inGrace(ctx, tx, rt, now); ok {
			out = &Refreshed{Session: *sess, RefreshToken: next}
			return nil
		}
		// Reuse outside the grace window: assume theft and end the session,
		// on every instance before the client hears of it.
		reused = true
		tx.AwaitPropagation()
		if _, err := tx.RevokeSessions(ctx, store.Revoke{SessionID: sess.ID, Reason: "refresh_token_reused", Now: now, AccessTTL: s.cfg.AccessTTL}); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.RefreshReuseDetected, now, uuid.Nil, sess.UserID, c,
			audit.Details{"session_id": sess.ID}))
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalid
	case err != nil:
		return nil, err
	case reused:
		return nil, ErrReused
	}
	return out, nil
}

// inGrace returns the successor of rt when rt is the session's most recently
// retired token (its successor still current) and was retired within the grace window.
func (s *Service) inGrace(ctx context.Context, tx *store.Store, rt *models.RefreshToken, now time.Time) (string, bool) {
	if rt.SuccessorID == nil || rt.SuccessorSealed == nil || now.Sub(*rt.RetiredAt) > s.cfg.Grace {
		return "", false
	}
	succ, err := tx.RefreshTokenByID(ctx, *rt.SuccessorID)
	if err != nil || succ.RetiredAt != nil {
		return "", false
	}
	next, err := s.key.Open(rt.SuccessorSealed, rt.ID[:])
	if err != nil {
		return "", false
	}
	return string(next), true
}

// AMR is how the session was authenticated, as RFC 8176 values.
func AMR(sess *models.Session) []string { return strings.Fields(sess.AMR) }

// Revoke ends sessions on tx and returns the ids revoked. tx's commit waits
// until every instance has heard of it (store.AwaitPropagation): a revoked
// session is refused everywhere at once, and so is whatever else the
// transaction changed (the roles, status or password that called for it).
func (s *Service) Revoke(ctx context.Context, tx *store.Store, r store.Revoke) ([]uuid.UUID, error) {
	tx.AwaitPropagation()
	r.Now = s.now()
	r.AccessTTL = s.cfg.AccessTTL
	return tx.RevokeSessions(ctx, r)
}

// Lookup returns the live session a refresh token belongs to, whether the token
// is the session's current one or already retired (a lost refresh answer leaves
// a browser holding the retired one): it names the session to end at logout.
// Unknown tokens and ended sessions are ErrInvalid. It changes nothing.
func (s *Service) Lookup(ctx context.Context, plain string) (*models.Session, error) {
	if plain == "" || len(plain) > 256 {
		return nil, ErrInvalid
	}
	rt, err := s.st.RefreshTokenByHash(ctx, s.key.MAC(macPurpose, []byte(plain)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	sess, err := s.st.SessionByID(ctx, rt.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	if sess.RevokedAt != nil || !s.now().Before(sess.ExpiresAt) {
		return nil, ErrInvalid
	}
	return sess, nil
}
