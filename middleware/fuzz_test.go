package middleware_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/middleware"
)

// FuzzBearerToken sends Authorization header values to BearerToken, then
// through the whole middleware in a request to GET /v1/me: 200 only for the
// live token, otherwise 401 problem JSON, never a server error or a hang.
// In a value, @@LIVE@@, @@EXPIRED@@ and @@REVOKED@@ stand for real access
// tokens of this process: live, expired, and of a logged-out session.
//
//	go test -run='^$' -fuzz='^FuzzBearerToken$' -fuzztime=1m ./middleware/
func FuzzBearerToken(f *testing.F) {
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "bearer @@LIVE@@", "BEARER @@LIVE@@", "Bearer @@LIVE@@",
		"Bearer \t@@LIVE@@\t ", "Bearer @@LIVE@@ extra", "Bearer\t@@LIVE@@", "Bearer  @@LIVE@@", "Basic @@LIVE@@",
		"@@LIVE@@", "Bearer @@EXPIRED@@", "Bearer @@REVOKED@@", "Bearer @@LIVE@@x", "Bearer x@@LIVE@@",
		"Bearer a.b.c", "Bearer ...", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.",
		"Bearer \x00", "Bearer \xff\xfe", "Bearer\u00a0@@LIVE@@", "Bearer @@LIVE@@,Bearer @@LIVE@@", "Bearer\r\n @@LIVE@@",
	} {
		f.Add(h)
	}
	f.Fuzz(newBearerHarness(f).check)
}

// TestBearerTokenLarge sends header values too large to be good fuzzing seeds
// (the fuzzer would spend its time minimising them) through the same checks.
func TestBearerTokenLarge(t *testing.T) {
	h := newBearerHarness(t)
	for _, v := range []string{
		"Bearer " + strings.Repeat("A", 100_000), "Bearer " + strings.Repeat(".", 10_000),
		"Bearer " + strings.Repeat("@@LIVE@@", 100), "Bearer " + strings.Repeat(" ", 10_000) + "@@LIVE@@",
		"Bearer " + strings.Repeat("eyJ", 10_000) + ".e30.", strings.Repeat("Bearer ", 10_000),
	} {
		h.check(t, v)
	}
}

// bearerHarness is a service with an access token in each state.
type bearerHarness struct {
	tb     *apitest.FuzzTB
	env    *apitest.Env
	live   string
	expand *strings.Replacer
}

func newBearerHarness(f testing.TB) *bearerHarness {
	tb := apitest.NewFuzzTB(f)
	e := apitest.New(tb, "sqlite", nil)
	// Each token is used while it is good, so that caches hold it, then ends.
	expired := e.AdminLogin().AccessToken
	e.Request("GET", "/v1/me", nil, apitest.Bearer(expired)...).Expect(http.StatusOK)
	e.Clock.Advance(time.Hour) // past the access token TTL, within the session's
	revoked := e.AdminLogin().AccessToken
	e.Request("GET", "/v1/me", nil, apitest.Bearer(revoked)...).Expect(http.StatusOK)
	e.Request("POST", "/v1/auth/logout", nil, apitest.Bearer(revoked)...).Expect(http.StatusOK)
	live := e.AdminLogin().AccessToken
	e.Request("GET", "/v1/me", nil, apitest.Bearer(live)...).Expect(http.StatusOK)
	e.Request("GET", "/v1/me", nil, apitest.Bearer(expired)...).ExpectProblem(http.StatusUnauthorized, "token_expired")
	e.Request("GET", "/v1/me", nil, apitest.Bearer(revoked)...).ExpectProblem(http.StatusUnauthorized, "session_revoked")
	tb.TakeLog()
	return &bearerHarness{tb: tb, env: e, live: live,
		expand: strings.NewReplacer("@@LIVE@@", live, "@@EXPIRED@@", expired, "@@REVOKED@@", revoked)}
}

// signed is what a token's signature covers: its header and claims.
func signed(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return tok
	}
	return tok[:i]
}

// check sends one Authorization header value to BearerToken and to GET /v1/me.
func (b *bearerHarness) check(t *testing.T, h string) {
	e, tb, live := b.env, b.tb, b.live
	h = b.expand.Replace(h)
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header["Authorization"] = []string{h} // as is: no canonicalisation, no checks

	got := middleware.BearerToken(echo.New().NewContext(req, httptest.NewRecorder()))
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		if want := strings.TrimSpace(h[7:]); got != want {
			t.Fatalf("BearerToken(%q) = %q, want %q", h, got, want)
		}
	} else if got != "" {
		t.Fatalf("BearerToken(%q) = %q, want none", h, got)
	}

	tb.TakeLog()
	done := make(chan *apitest.Response, 1)
	go func() { done <- e.WithT(t).Do(req) }()
	var r *apitest.Response
	select {
	case r = <-done:
	case <-time.After(30 * time.Second): // beyond the router's 20 s deadline
		t.Fatalf("GET /v1/me with Authorization %q: no answer within 30s", h)
	}
	fail := func(why string) {
		t.Fatalf("GET /v1/me with Authorization %q: %s: status %d\nanswer: %s\nservice log:\n%s", h, why, r.Status, r.Body, tb.TakeLog())
	}
	switch r.Status {
	case http.StatusOK:
		// Only the live token; base64 may spell its signature another way.
		if got == "" || signed(got) != signed(live) {
			fail("accepted a token that is not the live one")
		}
	case http.StatusUnauthorized:
		var p struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		if r.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(r.Body, &p) != nil || p.Status != r.Status {
			fail("not problem JSON")
		}
		if !slices.Contains([]string{"missing_token", "invalid_token", "token_expired", "session_revoked"}, p.Code) {
			fail("unexpected code " + p.Code)
		}
		if (p.Code == "missing_token") != (got == "") {
			fail("missing_token, yet BearerToken gave " + fmt.Sprintf("%q", got))
		}
	default:
		fail("neither 200 nor 401")
	}
}
