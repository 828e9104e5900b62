package keys_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/keys"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

var tokCfg = token.Config{Issuer: "https://auth.example.com", Audience: "authsvc", TTL: 15 * time.Minute}

// env is one database shared by several service instances.
type env struct {
	t     *testing.T
	url   string
	seal  *secret.Key
	clock *testdb.Clock
}

func newEnv(t *testing.T, url string) *env {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	seal, err := secret.New(raw)
	testdb.Must(t, err)
	e := &env{t: t, url: url, seal: seal, clock: testdb.NewClock(time.Now())}
	testdb.Must(t, e.store().Migrate(context.Background()))
	return e
}

// store opens a fresh connection pool, as a separate instance would have.
func (e *env) store() *store.Store {
	e.t.Helper()
	st, err := store.Open(context.Background(), e.url, store.Options{})
	testdb.Must(e.t, err)
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *env) manager(cfg keys.Config) *keys.Manager {
	return keys.NewManager(e.store(), e.seal, cfg, e.clock.Now, nil)
}

func (e *env) rows(states ...string) []models.SigningKey {
	e.t.Helper()
	rows, err := e.store().SigningKeys(context.Background(), states...)
	testdb.Must(e.t, err)
	return rows
}

func (e *env) one(state string) models.SigningKey {
	e.t.Helper()
	rows := e.rows(state)
	if len(rows) != 1 {
		e.t.Fatalf("%d %s keys; want 1", len(rows), state)
	}
	return rows[0]
}

func jwksKIDs(t *testing.T, ks *token.KeySet) []string {
	t.Helper()
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	testdb.Must(t, json.Unmarshal(ks.JWKS(), &doc))
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

func subject() token.Subject {
	return token.Subject{UserID: uuid.Must(uuid.NewV7()), SessionID: uuid.Must(uuid.NewV7()), Username: "u", Email: "u@example.com"}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	testdb.Must(t, err)
	var h map[string]any
	testdb.Must(t, json.Unmarshal(raw, &h))
	return h
}

func TestEnsure(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		e := newEnv(t, url)
		m := e.manager(keys.Config{})
		if m.KeySet() != nil {
			t.Fatal("key set before Ensure")
		}
		testdb.Must(t, m.Ensure(ctx))
		cur, next := e.one(models.KeyCurrent), e.one(models.KeyNext)
		if len(e.rows()) != 2 {
			t.Fatalf("%d keys after Ensure; want 2", len(e.rows()))
		}
		if cur.Alg != token.ES256 || next.Alg != token.ES256 {
			t.Fatalf("algs %s %s; want ES256 by default", cur.Alg, next.Alg)
		}
		if cur.ActivatedAt == nil || !near(*cur.ActivatedAt, e.clock.Now()) {
			t.Fatalf("current activated at %v; want %v", cur.ActivatedAt, e.clock.Now())
		}
		if next.ActivatedAt != nil || next.RetireAfter != nil {
			t.Fatalf("next key has times set: %+v", next)
		}
		ks := m.KeySet()
		if ks == nil || ks.Signing() == nil || ks.Signing().KID != cur.KID {
			t.Fatalf("signing key is not the current row")
		}
		if kids := jwksKIDs(t, ks); !sameSet(kids, []string{cur.KID, next.KID}) {
			t.Fatalf("JWKS kids %v; want current and next", kids)
		}

		// Idempotent, for this instance and for another one.
		testdb.Must(t, m.Ensure(ctx))
		other := e.manager(keys.Config{Alg: token.EdDSA})
		testdb.Must(t, other.Ensure(ctx))
		if len(e.rows()) != 2 || e.one(models.KeyCurrent).KID != cur.KID || e.one(models.KeyNext).KID != next.KID {
			t.Fatal("a second Ensure changed the keys")
		}
		if other.KeySet().Signing().KID != cur.KID {
			t.Fatal("second instance signs with another key")
		}
	})
}

func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		e := newEnv(t, url)
		const n = 6
		ms := make([]*keys.Manager, n)
		for i := range ms {
			ms[i] = e.manager(keys.Config{})
		}
		start := make(chan struct{})
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() {
				<-start
				errs <- m.Ensure(ctx)
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			testdb.Must(t, err)
		}
		if rows := e.rows(); len(rows) != 2 {
			t.Fatalf("%d keys after concurrent Ensure; want 2", len(rows))
		}
		cur := e.one(models.KeyCurrent)
		e.one(models.KeyNext)
		for _, m := range ms {
			if m.KeySet().Signing().KID != cur.KID {
				t.Fatal("instances disagree on the signing key")
			}
		}
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		e := newEnv(t, url)
		cfg := keys.Config{AccessTTL: tokCfg.TTL, ReloadInterval: 30 * time.Second}
		a, b := e.manager(cfg), e.manager(cfg) // two instances
		testdb.Must(t, a.Ensure(ctx))
		testdb.Must(t, b.Ensure(ctx))
		issA := token.NewIssuer(a.KeySet, tokCfg, e.clock.Now)
		verA := token.NewVerifier(a.KeySet, tokCfg, e.clock.Now, a.ReloadSoon)
		issB := token.NewIssuer(b.KeySet, tokCfg, e.clock.Now)
		verB := token.NewVerifier(b.KeySet, tokCfg, e.clock.Now, b.ReloadSoon)
		k1, k2 := e.one(models.KeyCurrent).KID, e.one(models.KeyNext).KID

		before, _, err := issA.Issue(subject())
		testdb.Must(t, err)
		e.clock.Advance(time.Minute)
		cur, err := a.Rotate(ctx)
		testdb.Must(t, err)
		rotatedAt := e.clock.Now()
		if cur.KID != k2 {
			t.Fatalf("new current %s; want the former next %s", cur.KID, k2)
		}
		if cur.PrivateSealed != nil {
			t.Fatal("Rotate returned the sealed private key")
		}
		k3 := e.one(models.KeyNext).KID
		old := e.rows(models.KeyRetiring)
		if len(old) != 1 || old[0].KID != k1 {
			t.Fatalf("retiring keys %+v; want only %s", old, k1)
		}
		wantRetire := rotatedAt.Add(cfg.AccessTTL + cfg.ReloadInterval + token.Leeway)
		if old[0].RetireAfter == nil || !near(*old[0].RetireAfter, wantRetire) {
			t.Fatalf("RetireAfter %v; want %v", old[0].RetireAfter, wantRetire)
		}
		if c := e.one(models.KeyCurrent); c.ActivatedAt == nil || !near(*c.ActivatedAt, rotatedAt) {
			t.Fatalf("new current activated at %v; want %v", c.ActivatedAt, rotatedAt)
		}

		// The old key still verifies, new tokens carry the new kid.
		if _, err := verA.Verify(before); err != nil {
			t.Fatalf("token signed before rotation: %v", err)
		}
		after, _, err := issA.Issue(subject())
		testdb.Must(t, err)
		if kid := header(t, after)["kid"]; kid != k2 {
			t.Fatalf("new token kid %v; want %s", kid, k2)
		}
		if kids := jwksKIDs(t, a.KeySet()); !sameSet(kids, []string{k1, k2, k3}) {
			t.Fatalf("JWKS %v; want old %s, new %s, next %s", kids, k1, k2, k3)
		}

		// Instance b has not reloaded: it knew k2 as next, so it already accepts
		// a's new tokens, and a accepts what b still signs with k1.
		if _, err := verB.Verify(after); err != nil {
			t.Fatalf("other instance rejects a token of the new key: %v", err)
		}
		stale, _, err := issB.Issue(subject())
		testdb.Must(t, err)
		if _, err := verA.Verify(stale); err != nil {
			t.Fatalf("token from the not yet reloaded instance: %v", err)
		}

		// Just before RetireAfter nothing retires; after it, Retire drops the key.
		e.clock.Advance(wantRetire.Sub(e.clock.Now()) - time.Second)
		testdb.Must(t, a.Retire(ctx))
		if len(e.rows(models.KeyRetiring)) != 1 {
			t.Fatal("retired before RetireAfter")
		}
		e.clock.Advance(2 * time.Second)
		testdb.Must(t, a.Retire(ctx))
		if got := e.rows(models.KeyRetired); len(got) != 1 || got[0].KID != k1 {
			t.Fatalf("retired keys %+v; want %s", got, k1)
		}
		if kids := jwksKIDs(t, a.KeySet()); !sameSet(kids, []string{k2, k3}) {
			t.Fatalf("JWKS after retire %v; want %s and %s", kids, k2, k3)
		}
		// Rejected because the key is gone, not merely because it expired.
		if _, err := verA.Verify(before); !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("token of the retired key: err = %v; want ErrInvalid", err)
		}
		lateVer := token.NewVerifier(a.KeySet, tokCfg, func() time.Time { return rotatedAt }, nil)
		if _, err := lateVer.Verify(before); !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("unexpired token of the retired key: err = %v; want ErrInvalid", err)
		}
		if _, err := lateVer.Verify(after); err != nil {
			t.Fatalf("current key's token: %v", err)
		}

		list, err := a.List(ctx)
		testdb.Must(t, err)
		if len(list) != 3 || list[0].KID != k3 {
			t.Fatalf("List = %d keys, first %s; want 3 keys, newest (%s) first", len(list), list[0].KID, k3)
		}
		for _, k := range list {
			if k.PrivateSealed != nil {
				t.Fatal("List returns sealed private keys")
			}
		}
	})
}

func TestRotateWithoutKeys(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		e := newEnv(t, url)
		if _, err := e.manager(keys.Config{}).Rotate(context.Background()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Rotate on an empty table: err = %v; want ErrNotFound", err)
		}
	})
}

// Several instances find rotation due at the same moment: exactly one rotates.
func TestRotateIfDueConcurrent(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		e := newEnv(t, url)
		cfg := keys.Config{RotationInterval: 24 * time.Hour}
		const n = 4
		ms := make([]*keys.Manager, n)
		for i := range ms {
			ms[i] = e.manager(cfg)
			testdb.Must(t, ms[i].Ensure(ctx))
		}
		k2 := e.one(models.KeyNext).KID
		e.clock.Advance(24*time.Hour - time.Second)
		if ms[0].Due() {
			t.Fatal("due before RotationInterval")
		}
		if _, rotated, err := ms[0].RotateIfDue(ctx); err != nil || rotated {
			t.Fatalf("RotateIfDue before due: rotated=%v err=%v", rotated, err)
		}
		e.clock.Advance(time.Second)
		for _, m := range ms {
			if !m.Due() {
				t.Fatal("not due after RotationInterval")
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		rotations := 0
		for _, m := range ms {
			wg.Go(func() {
				<-start
				cur, rotated, err := m.RotateIfDue(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if cur.KID != k2 {
					t.Errorf("current after RotateIfDue is %s; want %s", cur.KID, k2)
				}
				mu.Lock()
				defer mu.Unlock()
				if rotated {
					rotations++
				}
			})
		}
		close(start)
		wg.Wait()
		if rotations != 1 {
			t.Fatalf("%d rotations; want exactly 1", rotations)
		}
		if rows := e.rows(); len(rows) != 3 {
			t.Fatalf("%d keys; want 3 (retiring, current, next)", len(rows))
		}
		e.one(models.KeyRetiring)
		e.one(models.KeyNext)
		for _, m := range ms {
			if m.Due() {
				t.Fatal("still due after the rotation")
			}
			if m.KeySet().Signing().KID != k2 {
				t.Fatal("instance signs with another key after the rotation")
			}
		}
	})
}

// Run rotates when due and keeps going until its context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithCancel(context.Background())
		e := newEnv(t, url)
		m := e.manager(keys.Config{RotationInterval: time.Hour, ReloadInterval: 10 * time.Millisecond})
		testdb.Must(t, m.Ensure(ctx))
		k2 := e.one(models.KeyNext).KID
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		e.clock.Advance(time.Hour)
		waitFor(t, func() bool { return m.KeySet().Signing().KID == k2 })
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not stop with its context")
		}
		if n := len(e.rows()); n != 3 {
			t.Fatalf("%d keys; want 3 after one automatic rotation", n)
		}
	})
}

// A token from a key this instance has not loaded yet makes the verifier ask
// for a reload; once Run has done it, the token verifies.
func TestReloadSoon(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e := newEnv(t, url)
		a := e.manager(keys.Config{})
		b := e.manager(keys.Config{ReloadInterval: time.Hour}) // only ReloadSoon reloads b
		testdb.Must(t, a.Ensure(ctx))
		testdb.Must(t, b.Ensure(ctx))
		done := make(chan struct{})
		go func() { b.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		// Two rotations: the signing key is one b has never seen.
		_, err := a.Rotate(ctx)
		testdb.Must(t, err)
		_, err = a.Rotate(ctx)
		testdb.Must(t, err)
		tok, _, err := token.NewIssuer(a.KeySet, tokCfg, e.clock.Now).Issue(subject())
		testdb.Must(t, err)

		calls := 0
		ver := token.NewVerifier(b.KeySet, tokCfg, e.clock.Now, func() { calls++; b.ReloadSoon() })
		if _, err := ver.Verify(tok); !errors.Is(err, token.ErrInvalid) || calls != 1 {
			t.Fatalf("before reload: err = %v, callbacks %d", err, calls)
		}
		waitFor(t, func() bool { _, err := ver.Verify(tok); return err == nil })
	})
}

func TestPrivateKeysAreSealed(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		e := newEnv(t, url)
		for _, alg := range []string{token.ES256, token.EdDSA, token.RS256} {
			m := e.manager(keys.Config{Alg: alg})
			if alg == token.ES256 {
				testdb.Must(t, m.Ensure(ctx))
			} else {
				_, err := m.Rotate(ctx)
				testdb.Must(t, err)
			}
		}
		rows := e.rows()
		if len(rows) != 4 {
			t.Fatalf("%d keys; want 4", len(rows))
		}
		raw := make([]byte, 32)
		rand.Read(raw)
		wrong, err := secret.New(raw)
		testdb.Must(t, err)
		for i, k := range rows {
			if _, err := x509.ParsePKCS8PrivateKey(k.PrivateSealed); err == nil {
				t.Fatalf("%s: private key stored as plain PKCS#8", k.KID)
			}
			if strings.Contains(k.PublicJWK, `"d"`) {
				t.Fatalf("%s: public JWK carries the private exponent: %s", k.KID, k.PublicJWK)
			}
			if _, err := wrong.Open(k.PrivateSealed, []byte(k.KID)); err == nil {
				t.Fatalf("%s: opens under another SECRET_KEY", k.KID)
			}
			// Bound to its kid: a sealed key moved to another row does not open.
			if _, err := e.seal.Open(k.PrivateSealed, []byte(rows[(i+1)%len(rows)].KID)); err == nil {
				t.Fatalf("%s: opens under another kid", k.KID)
			}
			der, err := e.seal.Open(k.PrivateSealed, []byte(k.KID))
			testdb.Must(t, err)
			priv, err := x509.ParsePKCS8PrivateKey(der)
			testdb.Must(t, err)
			tp, err := token.Thumbprint(priv.(crypto.Signer).Public())
			if err != nil || tp != k.KID {
				t.Fatalf("%s: unsealed key has thumbprint %s (%v)", k.KID, tp, err)
			}
		}

		// An instance with the wrong SECRET_KEY refuses to start rather than sign garbage.
		bad := keys.NewManager(e.store(), wrong, keys.Config{}, e.clock.Now, nil)
		if err := bad.Ensure(ctx); err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
			t.Fatalf("Ensure with the wrong SECRET_KEY: err = %v", err)
		}
	})
}

// JWT_ALG applies to keys generated from then on: the next key keeps its alg.
func TestAlgChangeAppliesToNewKeys(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		e := newEnv(t, url)
		testdb.Must(t, e.manager(keys.Config{Alg: token.ES256}).Ensure(ctx))
		m := e.manager(keys.Config{Alg: token.EdDSA})
		testdb.Must(t, m.Ensure(ctx))
		cur, err := m.Rotate(ctx)
		testdb.Must(t, err)
		if cur.Alg != token.ES256 || e.one(models.KeyNext).Alg != token.EdDSA {
			t.Fatalf("after rotation current %s, next %s; want ES256, EdDSA", cur.Alg, e.one(models.KeyNext).Alg)
		}
		if _, err := keys.NewManager(e.store(), e.seal, keys.Config{Alg: "HS256"}, e.clock.Now, nil).Rotate(ctx); err == nil {
			t.Fatal("rotated to an HS256 key")
		}
	})
}

// near compares database times: PostgreSQL keeps microseconds, SQLite nanoseconds.
func near(a, b time.Time) bool { return a.Sub(b).Abs() < time.Microsecond }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
