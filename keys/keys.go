// Package keys runs the signing-key lifecycle over the database: next (published,
// not yet signing) → current (signs) → retiring (verifies until RetireAfter) →
// retired. Every instance reads the same rows, so a rotation made by one is
// picked up by the others at their next reload.
package keys

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/authsvc/authsvc/audit"
	"github.com/google/uuid"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// Defaults for zero Config fields.
const (
	DefaultAlg            = token.ES256
	DefaultAccessTTL      = 15 * time.Minute
	DefaultReloadInterval = 30 * time.Second
)

// reloadSoonGap bounds how often tokens naming an unknown kid can make us hit the database.
const reloadSoonGap = 5 * time.Second

// Config tunes the lifecycle.
type Config struct {
	Alg              string        // for newly generated keys (JWT_ALG)
	AccessTTL        time.Duration // how long a token signed by a key stays valid
	RotationInterval time.Duration // 0: rotate only on command
	ReloadInterval   time.Duration // how often instances re-read the keys
}

// Manager owns the key rows and the in-memory key set built from them.
type Manager struct {
	st   *store.Store
	seal *secret.Key
	cfg  Config
	now  func() time.Time
	log  *slog.Logger

	state    atomic.Pointer[snapshot]
	reloadMu sync.Mutex // so an older read of the rows never replaces a newer one
	kick     chan struct{}
	lastKick atomic.Int64 // unix nanoseconds of the last ReloadSoon that got through
}

// snapshot is what one Reload saw.
type snapshot struct {
	set     *token.KeySet
	current models.SigningKey
	rows    string // kid:state of every loaded key, to skip rebuilding an unchanged set
}

// NewManager fills in defaults; nothing touches the database until Ensure.
func NewManager(st *store.Store, seal *secret.Key, cfg Config, now func() time.Time, log *slog.Logger) *Manager {
	if cfg.Alg == "" {
		cfg.Alg = DefaultAlg
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.RotationInterval < 0 {
		cfg.RotationInterval = 0
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{st: st, seal: seal, cfg: cfg, now: now, log: log, kick: make(chan struct{}, 1)}
}

// KeySet is the current snapshot; nil only before the first successful Reload.
// Pass m.KeySet to token.NewIssuer and token.NewVerifier.
func (m *Manager) KeySet() *token.KeySet {
	if s := m.state.Load(); s != nil {
		return s.set
	}
	return nil
}

// Ensure makes sure a current and a next key exist, then loads them. Instances
// starting together may all try: the unique index lets one win and the others
// see a conflict, after which they just load what the winner wrote.
func (m *Manager) Ensure(ctx context.Context) error {
	rows, err := m.st.SigningKeys(ctx, models.KeyCurrent, models.KeyNext)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	hasCurrent, hasNext := hasState(rows, models.KeyCurrent), hasState(rows, models.KeyNext)
	if !hasCurrent || !hasNext {
		if err := m.create(ctx, !hasCurrent, !hasNext); err != nil {
			return err
		}
	}
	return m.Reload(ctx)
}

// create inserts the missing keys in one transaction. Keys are generated before
// it so that no lock is held during (RSA) key generation.
func (m *Manager) create(ctx context.Context, current, next bool) error {
	now := m.now()
	var want []models.SigningKey
	if current {
		k, err := m.newKey(models.KeyCurrent, now)
		if err != nil {
			return err
		}
		k.ActivatedAt = &now
		want = append(want, k)
	}
	if next {
		k, err := m.newKey(models.KeyNext, now)
		if err != nil {
			return err
		}
		want = append(want, k)
	}
	created, err := m.st.CreateSigningKeys(ctx, want...)
	switch {
	case errors.Is(err, store.ErrConflict):
		m.log.Debug("another instance created the signing keys first")
	case err != nil:
		return fmt.Errorf("keys: create signing keys: %w", err)
	}
	for _, k := range created {
		m.log.Info("signing key created", "kid", k.KID, "alg", k.Alg, "state", k.State)
	}
	return nil
}

// newKey generates a key of the configured alg with its private half sealed
// under SECRET_KEY, bound to its kid so a sealed blob cannot be moved to another row.
func (m *Manager) newKey(state string, now time.Time) (models.SigningKey, error) {
	priv, err := token.GenerateKey(m.cfg.Alg)
	if err != nil {
		return models.SigningKey{}, fmt.Errorf("keys: %w", err)
	}
	kid, err := token.Thumbprint(priv.Public())
	if err != nil {
		return models.SigningKey{}, err
	}
	jwk, err := token.PublicJWK(priv.Public(), kid, m.cfg.Alg)
	if err != nil {
		return models.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return models.SigningKey{}, fmt.Errorf("keys: encode private key: %w", err)
	}
	sealed := m.seal.Seal(der, []byte(kid))
	clear(der)
	return models.SigningKey{
		KID:           kid,
		Alg:           m.cfg.Alg,
		State:         state,
		PublicJWK:     string(jwk),
		PrivateSealed: sealed,
		CreatedAt:     now,
	}, nil
}

// Reload reads the keys that may verify (next, current, retiring), unseals the
// current one's private half and swaps in a new key set. On error the previous
// set stays in use.
func (m *Manager) Reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	rows, err := m.st.SigningKeys(ctx, models.KeyNext, models.KeyCurrent, models.KeyRetiring)
	if err != nil {
		return fmt.Errorf("keys: load signing keys: %w", err)
	}
	now := m.now()
	var (
		current *models.SigningKey
		verify  = make([]token.Key, 0, len(rows))
		seen    strings.Builder
	)
	for i := range rows {
		r := &rows[i]
		// Past RetireAfter a key no longer verifies, even before Retire marks it.
		if r.State == models.KeyRetiring && r.RetireAfter != nil && !r.RetireAfter.After(now) {
			continue
		}
		pub, kid, alg, err := token.ParsePublicJWK([]byte(r.PublicJWK))
		if err != nil {
			return fmt.Errorf("keys: signing key %s: %w", r.KID, err)
		}
		if kid != r.KID || alg != r.Alg {
			return fmt.Errorf("keys: signing key %s: JWK names kid %q alg %q", r.KID, kid, alg)
		}
		verify = append(verify, token.Key{KID: r.KID, Alg: r.Alg, Public: pub})
		if r.State == models.KeyCurrent {
			current = r
		}
		seen.WriteString(r.KID + ":" + r.State + ";")
	}
	if current == nil {
		return errors.New("keys: no current signing key (Ensure has not run)")
	}
	prev := m.state.Load()
	if prev != nil && prev.rows == seen.String() {
		return nil // nothing changed; keep the set (and its parsed private key)
	}
	signing, err := m.unseal(current)
	if err != nil {
		return err
	}
	set, err := token.NewKeySet(signing, verify)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	cur := *current
	cur.PrivateSealed = nil
	m.state.Store(&snapshot{set: set, current: cur, rows: seen.String()})
	if prev == nil || prev.current.KID != cur.KID {
		m.log.Info("signing key in use", "kid", cur.KID, "alg", cur.Alg, "verification_keys", len(verify))
	}
	return nil
}

func (m *Manager) unseal(k *models.SigningKey) (*token.Key, error) {
	der, err := m.seal.Open(k.PrivateSealed, []byte(k.KID))
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: cannot unseal (wrong SECRET_KEY?): %w", k.KID, err)
	}
	defer clear(der)
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: %w", k.KID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: signing key %s: %T cannot sign", k.KID, priv)
	}
	return &token.Key{KID: k.KID, Alg: k.Alg, Public: signer.Public(), Private: signer}, nil
}

// Rotate rotates now, whether due or not (the `keys rotate` command), and
// returns the new current key.
func (m *Manager) Rotate(ctx context.Context) (models.SigningKey, error) {
	cur, _, err := m.rotate(ctx, func(models.SigningKey) bool { return true })
	return cur, err
}

// RotateIfDue rotates only if the current key, re-read under the rotation lock,
// is due; of several instances that find rotation due together, one rotates.
// It returns the current key and whether this call rotated.
func (m *Manager) RotateIfDue(ctx context.Context) (models.SigningKey, bool, error) {
	now := m.now()
	return m.rotate(ctx, func(cur models.SigningKey) bool { return m.due(cur, now) })
}

func (m *Manager) rotate(ctx context.Context, due func(models.SigningKey) bool) (models.SigningKey, bool, error) {
	now := m.now()
	next, err := m.newKey(models.KeyNext, now)
	if err != nil {
		return models.SigningKey{}, false, err
	}
	// Other instances may sign with the old key until their next reload, and
	// those tokens live for AccessTTL and are accepted for Leeway beyond it.
	retireAfter := now.Add(m.cfg.AccessTTL + m.cfg.ReloadInterval + token.Leeway)
	record := func(current, previous models.SigningKey) *models.AuditEvent {
		return audit.Event(audit.KeyRotated, now, uuid.Nil, uuid.Nil, audit.Client{},
			audit.Details{"kid": current.KID, "previous_kid": previous.KID, "next_kid": next.KID, "retire_after": retireAfter})
	}
	cur, rotated, err := m.st.RotateSigningKeys(ctx, now, next, retireAfter, due, record)
	if err != nil {
		return models.SigningKey{}, false, fmt.Errorf("keys: rotate: %w", err)
	}
	cur.PrivateSealed = nil
	if rotated {
		m.log.Info("signing key rotated", "kid", cur.KID, "next_kid", next.KID, "next_alg", next.Alg,
			"previous_retire_after", retireAfter)
	}
	if err := m.Reload(ctx); err != nil {
		return cur, rotated, err
	}
	return cur, rotated, nil
}

// Retire moves retiring keys past their RetireAfter to retired, and reloads if any moved.
func (m *Manager) Retire(ctx context.Context) error {
	n, err := m.st.RetireSigningKeys(ctx, m.now())
	if err != nil {
		return fmt.Errorf("keys: retire: %w", err)
	}
	if n == 0 {
		return nil
	}
	m.log.Info("signing keys retired", "count", n)
	return m.Reload(ctx)
}

// Due reports whether automatic rotation is due, judged from the loaded set.
func (m *Manager) Due() bool {
	s := m.state.Load()
	return s != nil && m.due(s.current, m.now())
}

func (m *Manager) due(cur models.SigningKey, now time.Time) bool {
	if m.cfg.RotationInterval <= 0 {
		return false
	}
	since := cur.CreatedAt
	if cur.ActivatedAt != nil {
		since = *cur.ActivatedAt
	}
	return !since.Add(m.cfg.RotationInterval).After(now)
}

// ReloadSoon asks Run for a reload without waiting, at most once per
// reloadSoonGap: a token with an unknown kid may come from a key another
// instance just created, but a flood of forged kids must not flood the database.
// Use it as the verifier's onUnknownKID.
func (m *Manager) ReloadSoon() {
	now := m.now().UnixNano()
	last := m.lastKick.Load()
	if last != 0 && now-last < int64(reloadSoonGap) {
		return
	}
	if !m.lastKick.CompareAndSwap(last, now) {
		return // another caller got through just now
	}
	select {
	case m.kick <- struct{}{}:
	default: // a reload is already pending
	}
}

// KeysChanged asks Run for a reload without waiting: another instance (or the
// command line) rotated the keys. Unlike ReloadSoon it is not rate limited: it
// comes from the database's own change notices, not from tokens anyone sends.
func (m *Manager) KeysChanged() {
	select {
	case m.kick <- struct{}{}:
	default: // a reload is already pending
	}
}

// Run maintains the keys until ctx is done: every ReloadInterval it retires
// expired keys, rotates when due and reloads; between ticks it serves
// ReloadSoon. Errors are logged and retried at the next tick.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.tick(ctx)
		case <-m.kick:
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("reload signing keys", "err", err)
			}
		}
	}
}

func (m *Manager) tick(ctx context.Context) {
	// A panic here would take the whole service down for a maintenance chore.
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("signing key maintenance panicked", "panic", r)
		}
	}()
	if err := m.Retire(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("retire signing keys", "err", err)
	}
	if m.Due() {
		if _, _, err := m.RotateIfDue(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("rotate signing keys", "err", err)
		}
	}
	if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
		m.log.Error("reload signing keys", "err", err)
	}
}

// List returns every key in every state, newest first, without private halves.
func (m *Manager) List(ctx context.Context) ([]models.SigningKey, error) {
	rows, err := m.st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	for i := range rows {
		rows[i].PrivateSealed = nil
	}
	return rows, nil
}

func hasState(rows []models.SigningKey, state string) bool {
	for _, r := range rows {
		if r.State == state {
			return true
		}
	}
	return false
}
