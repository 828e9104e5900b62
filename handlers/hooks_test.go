package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/fedtest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
)

const testHookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookServer is the operator's hook: it checks every request's signature
// with the Standard Webhooks library (ignoring the timestamp: the service
// runs on a test clock) and answers with answer(body).
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []map[string]any
	raw      []string
	unsigned int
	failing  *atomic.Bool // set by tests that switch the hook's answer
}

func newHookServer(t *testing.T, answer func(w http.ResponseWriter, body map[string]any)) *hookServer {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testHookSecret)
	testdb.Must(t, err)
	s := &hookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		s.mu.Lock()
		if wh.VerifyIgnoringTimestamp(raw, r.Header) != nil {
			s.unsigned++
		}
		s.bodies, s.raw = append(s.bodies, body), append(s.raw, string(raw))
		s.mu.Unlock()
		answer(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) last(t *testing.T) (map[string]any, string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unsigned != 0 {
		t.Fatalf("%d hook requests did not verify", s.unsigned)
	}
	if len(s.bodies) == 0 {
		t.Fatal("the hook was not called")
	}
	return s.bodies[len(s.bodies)-1], s.raw[len(s.raw)-1]
}

func jsonAnswer(status int, body string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// eachWithLogs is apitest.Each with a log buffer of each service's own.
// setup starts the hook of each service and gives its variables.
func eachWithLogs(t *testing.T, setup func(t *testing.T) (apitest.Vars, *hookServer), fn func(t *testing.T, e *apitest.Env, logs *apitest.LogBuffer, hook *hookServer)) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		logs := &apitest.LogBuffer{}
		v, hook := setup(t)
		v["LOG_LEVEL"] = "warn"
		fn(t, apitest.New(t, dialect, v, apitest.LogTo(logs)), logs, hook)
	})
}

func TestTokenHookAddsClaims(t *testing.T) {
	eachWithLogs(t, func(t *testing.T) (apitest.Vars, *hookServer) {
		hook := newHookServer(t, jsonAnswer(200, `{"claims": {"tenant": "t1", "plan": {"tier": "gold"},
			"sub": "evil", "roles": ["admin"], "permissions": ["users:write"], "amr": ["hwk"],
			"email": "evil@example.com", "exp": 1, "sid": "x"}}`))
		return apitest.Vars{"TOKEN_HOOK_URL": hook.URL + "/token", "TOKEN_HOOK_SECRET": testHookSecret}, hook
	}, func(t *testing.T, e *apitest.Env, logs *apitest.LogBuffer, hook *hookServer) {
		user := e.Signup("hooked")
		tk := e.Login("hooked", apitest.StrongPassword)
		claims := claimsOf(t, tk.AccessToken)
		if claims["tenant"] != "t1" || claims["plan"].(map[string]any)["tier"] != "gold" {
			t.Fatalf("hook claims missing: %v", claims)
		}
		if claims["sub"] != user["id"] || claims["sid"] != tk.SessionID || claims["email"] != "hooked@example.com" ||
			!slices.Equal(anyStrings(claims["roles"]), []string{"user"}) || slices.Contains(anyStrings(claims["permissions"]), "users:write") ||
			!slices.Equal(anyStrings(claims["amr"]), []string{"pwd"}) {
			t.Fatalf("a reserved claim was overridden: %v", claims)
		}
		if exp, _ := claims["exp"].(float64); exp < float64(e.Clock.Now().Unix()) {
			t.Fatalf("exp overridden: %v", claims["exp"])
		}
		// The token still verifies, offline and at introspection.
		e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
		got := introspectJSON(e, tk.AccessToken).Expect(200).JSON()
		if got["active"] != true || got["sub"] != user["id"] {
			t.Fatalf("introspection: %v", got)
		}

		// What the hook was told: the public view, the session, the claims.
		body, raw := hook.last(t)
		u := body["user"].(map[string]any)
		if body["type"] != "token.issue" || body["session_id"] != tk.SessionID || u["id"] != user["id"] ||
			u["email"] != "hooked@example.com" || u["username"] != "hooked" || !slices.Equal(anyStrings(body["amr"]), []string{"pwd"}) {
			t.Fatalf("hook body: %s", raw)
		}
		for _, k := range []string{"first_name", "last_name", "roles"} {
			if _, ok := u[k]; !ok {
				t.Errorf("hook user lacks %s: %s", k, raw)
			}
		}
		if c := body["claims"].(map[string]any); c["sub"] != user["id"] || c["jti"] != claimsOf(t, tk.AccessToken)["jti"] {
			t.Fatalf("hook claims are not the ones signed: %s", raw)
		}
		if strings.Contains(raw, apitest.StrongPassword) || strings.Contains(raw, "password") || strings.Contains(raw, "refresh") {
			t.Fatalf("the hook was sent a secret: %s", raw)
		}

		// A refresh asks again; the claim is in the new token.
		var next apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(200).Decode(&next)
		if claimsOf(t, next.AccessToken)["tenant"] != "t1" {
			t.Fatal("refresh: no hook claim")
		}
		e.Login("hooked", apitest.StrongPassword)

		// Each ignored name is logged once, however many tokens.
		for _, name := range []string{"sub", "roles", "permissions", "amr", "email", "exp", "sid"} {
			if n := strings.Count(logs.String(), `"claim":"`+name+`"`); n != 1 {
				t.Errorf("ignored claim %s logged %d times, want 1", name, n)
			}
		}
		if strings.Contains(logs.String(), strings.TrimPrefix(testHookSecret, "whsec_")) {
			t.Fatal("the hook secret was logged")
		}
	})
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestTokenHookFailure(t *testing.T) {
	slow := func(w http.ResponseWriter, _ map[string]any) {
		time.Sleep(400 * time.Millisecond)
		jsonAnswer(200, `{"claims": {"tenant": "t1"}}`)(w, nil)
	}
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, map[string]any)
	}{
		{"500", jsonAnswer(500, `{}`)},
		{"bad json", jsonAnswer(200, `{"claims": `)},
		{"timeout", slow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []string{"closed", "open"} {
				t.Run(mode, func(t *testing.T) {
					eachWithLogs(t, func(t *testing.T) (apitest.Vars, *hookServer) {
						hook := newHookServer(t, tc.answer)
						return apitest.Vars{"TOKEN_HOOK_URL": hook.URL, "TOKEN_HOOK_SECRET": testHookSecret,
							"HOOK_TIMEOUT": "150ms", "HOOK_FAILURE": mode}, hook
					}, func(t *testing.T, e *apitest.Env, logs *apitest.LogBuffer, _ *hookServer) {
						e.Signup("failing")
						r := e.Request("POST", "/v1/auth/login", map[string]any{"login": "failing", "password": apitest.StrongPassword})
						if mode == "closed" {
							r.ExpectProblem(503, "hook_failed")
							if r.Header.Get("Retry-After") == "" {
								t.Fatal("no Retry-After")
							}
							// The session opened for it is ended: no tokens were sent.
							if n := countRows(t, e, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"); n != 0 {
								t.Fatalf("%d live sessions after a failed token hook", n)
							}
							return
						}
						var tk apitest.Tokens
						r.Expect(200).Decode(&tk)
						if _, ok := claimsOf(t, tk.AccessToken)["tenant"]; ok {
							t.Fatal("a claim from a failed hook")
						}
						e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200)
						if n := countRows(t, e, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"); n != 1 {
							t.Fatalf("%d live sessions, want the one opened", n)
						}
						if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "hook failed") {
							t.Fatalf("no warning logged: %s", logs)
						}
					})
				})
			}
		})
	}
}

func TestSignupHook(t *testing.T) {
	eachWithLogs(t, func(t *testing.T) (apitest.Vars, *hookServer) {
		hook := newHookServer(t, func(w http.ResponseWriter, body map[string]any) {
			u, _ := body["user"].(map[string]any)
			if name, _ := u["username"].(string); strings.HasPrefix(name, "blocked") {
				jsonAnswer(200, `{"allow": false, "reason": "<b>Not invited</b> \u00e9"}`)(w, body)
				return
			}
			jsonAnswer(200, `{"allow": true}`)(w, body)
		})
		return apitest.Vars{"SIGNUP_HOOK_URL": hook.URL, "SIGNUP_HOOK_SECRET": testHookSecret}, hook
	}, func(t *testing.T, e *apitest.Env, _ *apitest.LogBuffer, hook *hookServer) {
		r := e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "blocked@example.com", "username": "blocked1", "password": apitest.StrongPassword,
			"first_name": "Bl", "last_name": "Ocked",
		}).ExpectProblem(403, "signup_denied")
		if d := r.JSON()["detail"]; d != "<b>Not invited</b> é" {
			t.Fatalf("detail = %q", d)
		}
		body, raw := hook.last(t)
		u := body["user"].(map[string]any)
		if body["type"] != "signup" || u["email"] != "blocked@example.com" || u["username"] != "blocked1" ||
			u["first_name"] != "Bl" || u["last_name"] != "Ocked" || u["provider"] != "" {
			t.Fatalf("hook body: %s", raw)
		}
		if strings.Contains(raw, apitest.StrongPassword) || strings.Contains(raw, "password") {
			t.Fatalf("the hook was sent the password: %s", raw)
		}
		// Nothing was created: the address is free, and no login.
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "blocked1", "password": apitest.StrongPassword}).
			ExpectProblem(401, "invalid_credentials")

		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "welcome@example.com", "username": "welcome", "password": apitest.StrongPassword,
		}).Expect(http.StatusCreated)
		e.Login("welcome", apitest.StrongPassword)
	})
}

func TestSignupHookFailure(t *testing.T) {
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			eachWithLogs(t, func(t *testing.T) (apitest.Vars, *hookServer) {
				hook := newHookServer(t, jsonAnswer(200, `{"reason": "no allow field"}`))
				return apitest.Vars{"SIGNUP_HOOK_URL": hook.URL, "SIGNUP_HOOK_SECRET": testHookSecret, "HOOK_FAILURE": mode}, hook
			}, func(t *testing.T, e *apitest.Env, logs *apitest.LogBuffer, _ *hookServer) {
				r := e.Request("POST", "/v1/auth/signup", signupBody("maybe", apitest.StrongPassword))
				if mode == "closed" {
					r.ExpectProblem(503, "hook_failed")
					e.Request("POST", "/v1/auth/login", map[string]any{"login": "maybe", "password": apitest.StrongPassword}).
						ExpectProblem(401, "invalid_credentials")
					return
				}
				r.Expect(http.StatusCreated)
				if !strings.Contains(logs.String(), "hook failed") {
					t.Fatalf("no warning: %s", logs)
				}
			})
		})
	}
}

// A provider's first sign-in asks the signup hook too: refused, the ID-token
// sign-in answers 403 signup_denied, the callback sends the app
// ?error=signup_denied with the reason.
func TestSignupHookProvider(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		hook := newHookServer(t, jsonAnswer(200, `{"allow": false, "reason": "providers are closed"}`))
		fed := fedtest.Start(t)
		fed.OP.AddUser(adaAtCorp)
		e := apitest.New(t, dialect, fed.Vars(apitest.Vars{"SIGNUP_HOOK_URL": hook.URL, "SIGNUP_HOOK_SECRET": testHookSecret}))

		r := postIDToken(e, "corp", fed.OP.IDToken(t, idTokenClaims(e, fed, nil)), "").ExpectProblem(403, "signup_denied")
		if d := r.JSON()["detail"]; d != "providers are closed" {
			t.Fatalf("detail = %q", d)
		}
		body, raw := hook.last(t)
		u := body["user"].(map[string]any)
		if u["provider"] != "corp" || u["email"] != "grace@example.com" || u["first_name"] != "Grace" || u["last_name"] != "Hopper" {
			t.Fatalf("hook body: %s", raw)
		}

		_, challenge := fedtest.PKCE()
		q := fed.SignInOIDC(t, e, adaAtCorp.Username, adaAtCorp.Password, challenge)
		if q.Get("error") != "signup_denied" || q.Get("error_description") != "providers are closed" || q.Get("code") != "" {
			t.Fatalf("callback: %v", q)
		}
	})
}

// A sign-up by email code asks the signup hook when the code is used: refused,
// 403 signup_denied and no account.
func TestSignupHookEmailCode(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		hook := newHookServer(t, jsonAnswer(200, `{"allow": false, "reason": "by invitation only"}`))
		srv := smtptest.Start(t, smtptest.Config{})
		e := apitest.New(t, dialect, smtpVars(srv, apitest.Vars{"EMAIL_LOGIN_SIGNUP": "true",
			"SIGNUP_HOOK_URL": hook.URL, "SIGNUP_HOOK_SECRET": testHookSecret}))
		requestCode(e, "new@example.com", true).Expect(http.StatusAccepted)
		deliverMail(e, 1)
		m := lastSignInMail(t, srv, "new@example.com")
		r := verifyCode(e, "new@example.com", m.Code).ExpectProblem(403, "signup_denied")
		if d := r.JSON()["detail"]; d != "by invitation only" {
			t.Fatalf("detail = %q", d)
		}
		body, raw := hook.last(t)
		if u := body["user"].(map[string]any); u["email"] != "new@example.com" || u["provider"] != "" {
			t.Fatalf("hook body: %s", raw)
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE email = ?", "new@example.com"); n != 0 {
			t.Fatal("the account was created")
		}
	})
}

// A refresh refused by a failing token hook keeps the session: the same
// refresh token, presented again within REFRESH_REUSE_GRACE, works once the
// hook answers.
func TestTokenHookFailedRefreshRetried(t *testing.T) {
	eachWithLogs(t, func(t *testing.T) (apitest.Vars, *hookServer) {
		var failing atomic.Bool
		hook := newHookServer(t, func(w http.ResponseWriter, body map[string]any) {
			if failing.Load() {
				jsonAnswer(502, `{}`)(w, body)
				return
			}
			jsonAnswer(200, `{"claims": {"tenant": "t1"}}`)(w, body)
		})
		hook.failing = &failing
		return apitest.Vars{"TOKEN_HOOK_URL": hook.URL, "TOKEN_HOOK_SECRET": testHookSecret}, hook
	}, func(t *testing.T, e *apitest.Env, _ *apitest.LogBuffer, hook *hookServer) {
		tk := e.SignupLogin("retry")
		hook.failing.Store(true)
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).ExpectProblem(503, "hook_failed")
		hook.failing.Store(false)
		var next apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(200).Decode(&next)
		if next.SessionID != tk.SessionID || claimsOf(t, next.AccessToken)["tenant"] != "t1" {
			t.Fatalf("retried refresh: %+v", next)
		}
	})
}
