package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
)

// tokenHookLogin is the login scenario with TOKEN_HOOK_URL on: every access
// token waits for a signed POST to a hook, here one in this process that
// answers {"claims": {"tenant": "t1"}} at once, so the row beside the plain
// login's is what the hook's round trip costs (not the operator's code).
const tokenHookLogin = "POST /v1/auth/login (token hook on)"

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
	hook, calls := startCounting(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"claims": {"tenant": "t1"}}`)
	})
	defer hook.Close()
	p, err := startVariant(ctx, "authsvc-token-hook", dir, addr, bin, env,
		map[string]string{"TOKEN_HOOK_URL": hook.URL + "/token", "TOKEN_HOOK_SECRET": hookSecret()})
	if err != nil {
		return nil, nil, err
	}
	defer p.stop()
	out, _, broken := loadLogin(ctx, o, p, tokenHookLogin, fx, c, ceilings)
	out.Note = join(out.Note, fmt.Sprintf("%d hook calls", calls.Load()))
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
