package accounts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/app"
	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/hashpool"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/password"
)

// A login that the hashing pool turns away under load was never checked: it
// must not count toward the lockout, or a flood would lock its victims out.
func TestRefusedHashIsNoFailedLogin(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3"}, func(t *testing.T, e *apitest.Env) {
		e.Signup("ada")
		hasher, err := app.NewHasher(e.App.Config)
		testdb.Must(t, err)
		// One worker, no room to wait: while the test holds the worker, every
		// other hash is refused at once.
		pool := hashpool.New(hashpool.Config{Workers: 1, Budget: time.Nanosecond, Sample: func() { hasher.VerifyDummy("") }})
		svc := accounts.New(e.App.Store, app.NewSessions(e.App.Store, e.App.Secret, e.App.Config, e.Clock.Now), e.App.Secret,
			accounts.Passwords{Hasher: hasher, Pool: pool, Policy: password.Policy{}},
			accounts.Config{LockoutThreshold: 3}, accounts.WithClock(e.Clock.Now))
		running, release := make(chan struct{}), make(chan struct{})
		go func() { _ = pool.Do(context.Background(), func() { close(running); <-release }) }()
		<-running
		for range 5 {
			_, err := svc.Login(context.Background(), accounts.LoginInput{Login: "ada", Password: "wrong-Password-1"}, audit.Client{IP: "192.0.2.1"})
			if !errors.Is(err, hashpool.ErrOverloaded) {
				t.Fatalf("login while the pool is full: %v; want hashpool.ErrOverloaded", err)
			}
		}
		close(release)
		// Not locked: the refusals were no failures.
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": "wrong-Password-1"}).ExpectProblem(401, "invalid_credentials")
		e.Login("ada", apitest.StrongPassword)
	})
}
