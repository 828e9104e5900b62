package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/password"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
)

// account is a user the benchmark signed up.
type account struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// fixture is what the scenarios work with.
type fixture struct {
	users      []account // signed up through the API, in order
	tokens     []string  // access tokens of the first users, one session each
	admin      string    // the bootstrap admin's access token (users:read)
	refresh    []string  // refresh tokens, each to be presented once
	deepCursor string    // a users cursor deep in the list
	// A service client made through the admin API, for the client
	// credentials grant, and a personal access token of each user in tokens.
	serviceClient, serviceSecret string
	pats                         []string
}

func userName(i int) string { return fmt.Sprintf("user%07d", i) }

// seed fills the database: optionally a million rows by COPY, then o.users
// users signed up through the API, access tokens for some of them, refresh
// tokens for the refresh scenario and a cursor deep into the user list.
func seed(ctx context.Context, o options, a *api, cfg config.Config, db *database, c credentials) (*fixture, error) {
	if o.scaleUsers > 0 {
		start := time.Now()
		if err := copyUsers(ctx, db.url, o.scaleUsers, c.userPassword, cfg); err != nil {
			return nil, fmt.Errorf("scale seed: %w", err)
		}
		logf("copied %d users into PostgreSQL in %s", o.scaleUsers, time.Since(start).Round(time.Second))
	}

	start := time.Now()
	fx := &fixture{users: make([]account, o.users)}
	err := parallel(ctx, o.hashConns, o.users, func(i int) error {
		body := map[string]string{"email": userName(i) + "@example.com", "username": userName(i), "password": c.userPassword}
		var out struct{ User account }
		if err := a.call(ctx, http.MethodPost, "/v1/auth/signup", "", body, http.StatusCreated, &out); err != nil {
			return err
		}
		fx.users[i] = out.User
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	logf("signed up %d users in %s", o.users, time.Since(start).Round(100*time.Millisecond))

	if fx.admin, err = a.login(ctx, adminUsername, c.adminPassword); err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	fx.tokens = make([]string, min(o.tokenUsers, o.users))
	err = parallel(ctx, o.hashConns, len(fx.tokens), func(i int) (err error) {
		fx.tokens[i], err = a.login(ctx, fx.users[i].Username, c.userPassword)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	if err := seedCredentials(ctx, o, a, fx, c); err != nil {
		return nil, err
	}

	start = time.Now()
	if fx.refresh, err = mintRefreshTokens(ctx, cfg, fx.users, o.refreshTokens); err != nil {
		return nil, fmt.Errorf("refresh tokens: %w", err)
	}
	logf("started %d sessions for the refresh scenario in %s", len(fx.refresh), time.Since(start).Round(100*time.Millisecond))

	if fx.deepCursor, err = deepCursor(ctx, a, fx.admin, (o.users+o.scaleUsers)*9/10); err != nil {
		return nil, fmt.Errorf("deep cursor: %w", err)
	}
	return fx, nil
}

// seedCredentials creates, through the API, a service client holding
// users:read (as the admin) and a personal access token for each signed-in
// user (each with their password: one hash apiece, like a login).
func seedCredentials(ctx context.Context, o options, a *api, fx *fixture, c credentials) error {
	var created struct {
		Client       struct{ ID string }
		ClientSecret string `json:"client_secret"`
	}
	body := map[string]any{"name": "authbench", "permissions": []string{"users:read"}}
	if err := a.call(ctx, http.MethodPost, "/v1/clients", fx.admin, body, http.StatusCreated, &created); err != nil {
		return fmt.Errorf("service client: %w", err)
	}
	fx.serviceClient, fx.serviceSecret = created.Client.ID, created.ClientSecret

	start := time.Now()
	fx.pats = make([]string, len(fx.tokens))
	err := parallel(ctx, o.hashConns, len(fx.tokens), func(i int) error {
		var out struct{ Secret string }
		body := map[string]any{"name": "authbench", "expires_in": 3600, "password": c.userPassword}
		if err := a.call(ctx, http.MethodPost, "/v1/me/tokens", fx.tokens[i], body, http.StatusCreated, &out); err != nil {
			return err
		}
		fx.pats[i] = out.Secret
		return nil
	})
	if err != nil {
		return fmt.Errorf("personal access tokens: %w", err)
	}
	logf("created a service client and %d personal access tokens in %s", len(fx.pats), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// mintRefreshTokens starts n sessions round-robin over users with the
// service's own session code on the service's database, as a login does after
// the password check, so the refresh scenario can present each token once
// without first paying n password hashes.
func mintRefreshTokens(ctx context.Context, cfg config.Config, users []account, n int) ([]string, error) {
	key, err := secret.Parse(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 8})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := sessions.New(st, key, sessions.Config{
		SessionTTL: cfg.SessionTTL, RememberTTL: cfg.RememberSessionTTL,
		AccessTTL: cfg.AccessTokenTTL, Grace: cfg.RefreshReuseGrace,
	}, time.Now)
	client := audit.NewClient("127.0.0.1", "authbench")
	out := make([]string, n)
	const batch = 250 // sessions per transaction: one commit each, not one per session
	err = parallel(ctx, 4, (n+batch-1)/batch, func(b int) error {
		return st.InTx(ctx, func(tx *store.Store) error {
			for i := b * batch; i < min(n, (b+1)*batch); i++ {
				id, err := uuid.Parse(users[i%len(users)].ID)
				if err != nil {
					return err
				}
				if _, out[i], err = svc.Start(ctx, tx, sessions.Opening{UserID: id, AMR: []string{models.AMRPassword}, Client: client}); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return out, err
}

// deepCursor follows the users list as the admin to about depth users in (at
// most 500 pages), and returns the cursor found there.
func deepCursor(ctx context.Context, a *api, admin string, depth int) (string, error) {
	size := 200
	if depth < 10*size {
		size = 10
	}
	cursor := ""
	for page := 0; page < min(depth/size, 500); page++ {
		var out struct {
			NextCursor string `json:"next_cursor"`
		}
		q := fmt.Sprintf("/v1/users?limit=%d&cursor=%s", size, url.QueryEscape(cursor))
		if err := a.call(ctx, http.MethodGet, q, admin, nil, http.StatusOK, &out); err != nil {
			return "", err
		}
		if out.NextCursor == "" {
			break
		}
		cursor = out.NextCursor
	}
	return cursor, nil
}

// copyUsers writes n active users with the role "user" straight into
// PostgreSQL with COPY, all with one precomputed argon2id hash of pw at the
// service's cost, so that a login as any of them is as real as any other.
// The columns are those of store/migrations/00001_init.postgres.sql; a
// case-folded key column that a later migration added (email_key,
// username_key) gets the name itself, which is lower-case ASCII already.
func copyUsers(ctx context.Context, dbURL string, n int, pw string, cfg config.Config) error {
	hasher, err := password.NewHasher(password.Params{
		MemoryKiB: cfg.PasswordHashMemoryKiB, Iterations: cfg.PasswordHashIterations,
		Parallelism: cfg.PasswordHashParallelism, SaltLen: 16, KeyLen: 32,
	})
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(pw)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var keys []string
	err = conn.QueryRow(ctx, `SELECT coalesce(array_agg(column_name::text ORDER BY column_name), '{}') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'users' AND column_name IN ('email_key', 'username_key')`).Scan(&keys)
	if err != nil {
		return err
	}
	cols := append([]string{"id", "email", "username", "first_name", "last_name", "password_hash", "status", "created_at", "updated_at"}, keys...)
	now := time.Now().UTC()
	i := 0
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		name := fmt.Sprintf("scale%07d", i)
		email := name + "@example.com"
		i++
		r := []any{uuid.Must(uuid.NewV7()), email, name, "Scale", strconv.Itoa(i), hash, "active", now, now}
		for _, k := range keys {
			r = append(r, map[string]string{"email_key": email, "username_key": name}[k])
		}
		return r, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, cols, rows); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO user_roles (user_id, role_name) SELECT id, 'user' FROM users WHERE username LIKE 'scale%'`); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

// parallel runs fn(0) … fn(n-1) on conc goroutines and returns the first error.
func parallel(ctx context.Context, conc, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(conc, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// api is a small JSON client for the set-up steps; the measured load goes
// through vegeta.
type api struct {
	base   string
	client *http.Client
}

func newAPI(base string) *api {
	return &api{base: base, client: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

// call sends in as JSON and decodes the answer into out when its status is
// want. A 503 or 429 (the hashing queue is full) is retried after a pause.
func (a *api) call(ctx context.Context, method, path, bearer string, in any, want int, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		retry := resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
		if retry && attempt < 50 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(b, out)
	}
}

// login returns an access token for a fresh session of the user.
func (a *api) login(ctx context.Context, login, pw string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := a.call(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"login": login, "password": pw}, http.StatusOK, &out)
	return out.AccessToken, err
}
