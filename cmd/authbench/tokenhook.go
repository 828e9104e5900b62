package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// tokenHookLogin is the login scenario with TOKEN_HOOK_URL on: every access
// token waits for a signed POST to a hook, here one in this process that
// answers {"claims": {"tenant": "t1"}} at once, so the row beside the plain
// login's is what the hook's round trip costs (not the operator's code).
const tokenHookLogin = "POST /v1/auth/login (token hook on)"

// startTokenHook serves the token hook on loopback and counts its calls.
// It does not verify signatures: the service's cost is what is measured.
func startTokenHook() (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"claims": {"tenant": "t1"}}`)
	}))
	return srv, &calls
}

// hookSecret is a fresh Standard Webhooks secret: "whsec_" + base64 of 32 bytes.
func hookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// runTokenHookLogin starts a fresh service on the same database with the
// token hook on and loads login as the plain login scenario does, when -run
// selects it.
func runTokenHookLogin(ctx context.Context, o options, dir, addr, bin string, env map[string]string, fx *fixture, c credentials, ceilings map[string]float64) ([]row, []string, error) {
	if !o.only.MatchString(tokenHookLogin) {
		return nil, nil, nil
	}
	hook, calls := startTokenHook()
	defer hook.Close()
	henv := map[string]string{}
	for k, v := range env {
		henv[k] = v
	}
	henv["TOKEN_HOOK_URL"], henv["TOKEN_HOOK_SECRET"] = hook.URL+"/token", hookSecret()
	p, err := startProcess(ctx, "authsvc-token-hook", dir, addr, "/readyz", henv, bin, "serve")
	if err != nil {
		return nil, nil, err
	}
	defer p.stop()
	sc := scenario{name: tokenHookLogin, conns: o.hashConns, ceiling: ceilArgon2, ok: []int{200}, target: target{minRatio: 0.90},
		targeter: login(p.base, fx.users, c.userPassword)}
	logf("%s, %d connections, %s", sc.name, sc.conns, o.duration)
	res := attack(ctx, sc.name, sc.targeter, sc.conns, o.duration, sc.ok...)
	out := scenarioRow(sc, res, ceilings)
	out.Note = join(out.Note, fmt.Sprintf("%d hook calls", calls.Load()))
	var broken []string
	if res.served == 0 {
		broken = append(broken, sc.name)
		logf("%s: no request served; the service's log ends:\n%s", sc.name, p.logTail(20))
	}
	return []row{out}, broken, nil
}

// insertAfter puts add right after the row named name (at the end when there
// is none), so that a variant is reported beside its plain scenario.
func insertAfter(rows []row, name string, add ...row) []row {
	for i, r := range rows {
		if r.Scenario == name {
			out := append([]row{}, rows[:i+1]...)
			out = append(out, add...)
			return append(out, rows[i+1:]...)
		}
	}
	return append(rows, add...)
}
