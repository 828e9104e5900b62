package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The ceilings a scenario's rate is compared with.
const (
	ceilEcho   = "bare Echo"
	ceilArgon2 = "argon2id"
)

// scenario is one endpoint under load.
type scenario struct {
	name     string
	conns    int
	targeter vegeta.Targeter
	ok       []int  // statuses that count as served; any other is an error
	ceiling  string // ceilEcho or ceilArgon2
	target   target
}

// target is a goal of the performance issue: a rate of at least minRatio of
// the scenario's ceiling, and a p99 under maxP99. Zero fields are no goal.
type target struct {
	minRatio float64
	maxP99   time.Duration
}

// scenarios lists what is measured on the service with generous limits, reads
// first, then the writes that grow the database. The bursts (burst.go) and the
// flood (floodTargeter) come after, each on a fresh service.
func scenarios(o options, base string, fx *fixture, c credentials) []scenario {
	fast := target{minRatio: 0.50, maxP99: 10 * time.Millisecond}
	admin := bearer(fx.admin)
	return []scenario{
		{name: "GET /.well-known/jwks.json", conns: o.conns, ceiling: ceilEcho, ok: []int{200},
			targeter: static(vegeta.Target{Method: http.MethodGet, URL: base + "/.well-known/jwks.json"})},
		{name: "GET /v1/me", conns: o.conns, ceiling: ceilEcho, ok: []int{200}, target: fast,
			targeter: perToken(http.MethodGet, base+"/v1/me", fx.tokens)},
		{name: "GET /v1/auth/session", conns: o.conns, ceiling: ceilEcho, ok: []int{200}, target: fast,
			targeter: perToken(http.MethodGet, base+"/v1/auth/session", fx.tokens)},
		// What nginx auth_request, Caddy forward_auth and Traefik ForwardAuth
		// ask for each request they let through (-run forward picks it).
		{name: "GET /v1/auth/forward", conns: o.conns, ceiling: ceilEcho, ok: []int{200}, target: target{minRatio: 0.60},
			targeter: perToken(http.MethodGet, base+"/v1/auth/forward", fx.tokens)},
		{name: "POST /v1/auth/introspect", conns: o.conns, ceiling: ceilEcho, ok: []int{200},
			targeter: introspect(base, fx.tokens, c)},
		// A service's client credentials grant: a MAC of the secret, a signature.
		{name: "POST /v1/oauth/token (client credentials)", conns: o.conns, ceiling: ceilEcho, ok: []int{200}, target: target{minRatio: 0.20},
			targeter: clientCredentials(base, fx.serviceClient, fx.serviceSecret)},
		// Scripts: each signed-in user's personal access token, round-robin.
		{name: "GET /v1/me (personal access token)", conns: o.conns, ceiling: ceilEcho, ok: []int{200}, target: target{minRatio: 0.50},
			targeter: perToken(http.MethodGet, base+"/v1/me", fx.pats)},
		{name: "GET /v1/users (first page)", conns: o.conns, ceiling: ceilEcho, ok: []int{200},
			targeter: static(vegeta.Target{Method: http.MethodGet, URL: base + "/v1/users", Header: admin})},
		{name: "GET /v1/users (deep page)", conns: o.conns, ceiling: ceilEcho, ok: []int{200},
			targeter: static(vegeta.Target{Method: http.MethodGet, URL: base + "/v1/users?cursor=" + url.QueryEscape(fx.deepCursor), Header: admin})},
		{name: "GET /v1/users?q=…", conns: o.conns, ceiling: ceilEcho, ok: []int{200},
			targeter: search(base, admin, len(fx.users))},
		{name: "GET /v1/users/count", conns: o.conns, ceiling: ceilEcho, ok: []int{200},
			targeter: perToken(http.MethodGet, base+"/v1/users/count", fx.tokens)},
		{name: "POST /v1/auth/refresh", conns: o.conns, ceiling: ceilEcho, ok: []int{200}, target: target{minRatio: 0.04},
			targeter: refreshOnce(base, fx.refresh)},
		{name: "POST /v1/auth/login", conns: o.hashConns, ceiling: ceilArgon2, ok: []int{200}, target: target{minRatio: 0.90},
			targeter: login(base, fx.users, c.userPassword)},
		{name: "POST /v1/auth/signup", conns: o.hashConns, ceiling: ceilArgon2, ok: []int{201}, target: target{minRatio: 0.90},
			targeter: signup(base, c.userPassword)},
	}
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

func static(t ...vegeta.Target) vegeta.Targeter { return vegeta.NewStaticTargeter(t...) }

// perToken round-robins over the signed-in users: many clients, each reusing
// its access token as real clients do.
func perToken(method, u string, tokens []string) vegeta.Targeter {
	ts := make([]vegeta.Target, len(tokens))
	for i, tok := range tokens {
		ts[i] = vegeta.Target{Method: method, URL: u, Header: bearer(tok)}
	}
	return static(ts...)
}

// introspect asks about each user's token in turn, as the gateway client.
func introspect(base string, tokens []string, c credentials) vegeta.Targeter {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+c.clientSecret))
	ts := make([]vegeta.Target, len(tokens))
	for i, tok := range tokens {
		ts[i] = vegeta.Target{Method: http.MethodPost, URL: base + "/v1/auth/introspect",
			Header: http.Header{"Authorization": {basic}, "Content-Type": {"application/json"}},
			Body:   jsonBody(map[string]string{"token": tok})}
	}
	return static(ts...)
}

// clientCredentials is the client credentials grant of one service client,
// authenticated with HTTP Basic (client_secret_basic: id and secret each
// form-encoded first), as OAuth libraries send it.
func clientCredentials(base, id, secret string) vegeta.Targeter {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	return static(vegeta.Target{Method: http.MethodPost, URL: base + "/v1/oauth/token",
		Header: http.Header{"Authorization": {basic}, "Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(url.Values{"grant_type": {"client_credentials"}}.Encode())})
}

// search looks for about ten users at a time: "user000012" matches
// user0000120 … user0000129.
func search(base string, admin http.Header, users int) vegeta.Targeter {
	ts := make([]vegeta.Target, 64)
	for i := range ts {
		q := fmt.Sprintf("user%06d", (i*37)%max(users/10, 1))
		ts[i] = vegeta.Target{Method: http.MethodGet, URL: base + "/v1/users?q=" + q, Header: admin}
	}
	return static(ts...)
}

// refreshOnce presents each refresh token once, then has no more targets.
func refreshOnce(base string, tokens []string) vegeta.Targeter {
	var next atomic.Int64
	return func(t *vegeta.Target) error {
		i := int(next.Add(1)) - 1
		if i >= len(tokens) {
			return vegeta.ErrNoTargets
		}
		*t = vegeta.Target{Method: http.MethodPost, URL: base + "/v1/auth/refresh", Header: jsonHeader(),
			Body: jsonBody(map[string]string{"refresh_token": tokens[i]})}
		return nil
	}
}

// login signs the seeded users in round-robin with their right password.
func login(base string, users []account, pw string) vegeta.Targeter {
	ts := make([]vegeta.Target, len(users))
	for i, u := range users {
		ts[i] = loginTarget(base, u.Username, pw)
	}
	return static(ts...)
}

func loginTarget(base, login, pw string) vegeta.Target {
	return vegeta.Target{Method: http.MethodPost, URL: base + "/v1/auth/login", Header: jsonHeader(),
		Body: jsonBody(map[string]string{"login": login, "password": pw})}
}

// signup creates a new user with each request.
func signup(base, pw string) vegeta.Targeter {
	var next atomic.Int64
	return func(t *vegeta.Target) error {
		*t = signupTarget(base, fmt.Sprintf("new%07d", next.Add(1)), pw)
		return nil
	}
}

func signupTarget(base, name, pw string) vegeta.Target {
	return vegeta.Target{Method: http.MethodPost, URL: base + "/v1/auth/signup", Header: jsonHeader(),
		Body: jsonBody(map[string]string{"email": name + "@example.com", "username": name, "password": pw})}
}

// floodTargeter is a login storm from many clients behind a trusted proxy:
// each request has a random X-Forwarded-For address (from 198.18.0.0/15, the
// range set aside for benchmarks; only a header, nothing is sent there) and
// logs in as a random seeded user, with a wrong password one time in four.
func floodTargeter(base string, users []account, pw string) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		u := users[rand.IntN(len(users))]
		p := pw
		if rand.IntN(4) == 0 {
			p = "wrong-" + pw
		}
		ip := fmt.Sprintf("198.%d.%d.%d", 18+rand.IntN(2), rand.IntN(256), 1+rand.IntN(254))
		*t = vegeta.Target{Method: http.MethodPost, URL: base + "/v1/auth/login",
			Header: http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {ip}},
			Body:   jsonBody(map[string]string{"login": u.Username, "password": p})}
		return nil
	}
}
