package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/token"
)

func TestSignup(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		r := e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "  Ada@Example.COM ", "username": "ada", "password": apitest.StrongPassword,
			"first_name": "Ada", "last_name": "Lovelace",
		}).Expect(http.StatusCreated)
		u := r.JSON()["user"].(map[string]any)
		if u["email"] != "Ada@example.com" || u["username"] != "ada" || u["status"] != "active" {
			t.Fatalf("user = %v", u)
		}
		if roles := u["roles"].([]any); len(roles) != 1 || roles[0] != "user" {
			t.Fatalf("roles = %v, want [user]", roles)
		}
		// has_password says whether there is one; nothing of it shows.
		if body := string(r.Body); strings.Contains(body, apitest.StrongPassword) || strings.Contains(body, "argon2") ||
			strings.Contains(body, `"password`) {
			t.Fatalf("response mentions the password: %s", r.Body)
		}
		if _, err := uuid.Parse(u["id"].(string)); err != nil {
			t.Fatalf("id %v: %v", u["id"], err)
		}

		cases := []struct {
			name   string
			body   any
			status int
			code   string
			field  string
		}{
			{"duplicate email, other case", map[string]any{"email": "ADA@example.com", "username": "ada2", "password": apitest.StrongPassword}, 409, "email_taken", ""},
			{"duplicate username, other case", map[string]any{"email": "ada2@example.com", "username": "ADA", "password": apitest.StrongPassword}, 409, "username_taken", ""},
			{"bad email", map[string]any{"email": "not-an-email", "username": "bob", "password": apitest.StrongPassword}, 400, "validation_failed", "email"},
			{"bad username", map[string]any{"email": "bob@example.com", "username": "b!", "password": apitest.StrongPassword}, 400, "validation_failed", "username"},
			{"missing password", map[string]any{"email": "bob@example.com", "username": "bob"}, 400, "validation_failed", "password"},
			{"weak password", map[string]any{"email": "bob@example.com", "username": "bob", "password": "password123"}, 400, "validation_failed", "password"},
			{"smuggled roles", map[string]any{"email": "bob@example.com", "username": "bob", "password": apitest.StrongPassword, "roles": []string{"admin"}}, 400, "validation_failed", "roles"},
			{"wrong type", map[string]any{"email": 42, "username": "bob", "password": apitest.StrongPassword}, 400, "validation_failed", "email"},
			{"malformed json", `{"email": "bob@example.com",`, 400, "malformed_json", ""},
			{"two values", `{"email":"a@b.co","username":"bob","password":"x"} {}`, 400, "malformed_json", ""},
			{"array body", `[]`, 400, "malformed_json", ""},
			{"empty body", "", 400, "malformed_json", ""},
			{"admin key when the feature is off", map[string]any{"email": "bob@example.com", "username": "bob", "password": apitest.StrongPassword, "admin_key": "guess"}, 403, "invalid_admin_key", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.Request("POST", "/v1/auth/signup", tc.body).ExpectProblem(tc.status, tc.code)
				if tc.field != "" {
					var p struct {
						Errors []struct{ Field, Message string } `json:"errors"`
					}
					r.Decode(&p)
					if len(p.Errors) == 0 || p.Errors[0].Field != tc.field || p.Errors[0].Message == "" {
						t.Fatalf("errors = %+v, want field %q", p.Errors, tc.field)
					}
				}
			})
		}
		t.Run("wrong content type", func(t *testing.T) {
			e := e.WithT(t)
			e.Request("POST", "/v1/auth/signup", `{"email":"x"}`, "Content-Type", "text/plain").ExpectProblem(415, "unsupported_media_type")
		})
		t.Run("body over 1 MiB", func(t *testing.T) {
			e := e.WithT(t)
			big := `{"email":"` + strings.Repeat("a", 1<<20) + `"}`
			e.Request("POST", "/v1/auth/signup", big).ExpectProblem(413, "body_too_large")
		})
	})
}

func TestSignupAdminKeyAndApproval(t *testing.T) {
	apitest.Each(t, apitest.Vars{"ADMIN_SIGNUP_KEY": "let-me-in-0123456789", "SIGNUP_REQUIRES_APPROVAL": "true"}, func(t *testing.T, e *apitest.Env) {
		body := func(user, key string) map[string]any {
			b := map[string]any{"email": user + "@example.com", "username": user, "password": apitest.StrongPassword}
			if key != "" {
				b["admin_key"] = key
			}
			return b
		}
		login := func(user string) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": user, "password": apitest.StrongPassword})
		}
		// A wrong key creates nothing and is audited.
		e.Request("POST", "/v1/auth/signup", body("mallory", "let-me-in-0123456788")).ExpectProblem(403, "invalid_admin_key")
		login("mallory").ExpectProblem(401, "invalid_credentials")

		// The right key makes an active admin, even with approval required.
		u := e.Request("POST", "/v1/auth/signup", body("trent", "let-me-in-0123456789")).Expect(201).JSON()["user"].(map[string]any)
		if u["status"] != "active" || !strings.Contains(strings.Join(toStrings(u["roles"]), ","), "admin") {
			t.Fatalf("admin-key signup = %v", u)
		}
		login("trent").Expect(200)

		// Without a key the account waits for approval; the wrong password still says nothing.
		u = e.Request("POST", "/v1/auth/signup", body("peggy", "")).Expect(201).JSON()["user"].(map[string]any)
		if u["status"] != "pending" {
			t.Fatalf("status = %v, want pending", u["status"])
		}
		login("peggy").ExpectProblem(403, "account_pending")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "peggy", "password": "wrong-password-1"}).ExpectProblem(401, "invalid_credentials")
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestLogin(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		e.Signup("grace")
		for _, login := range []string{"grace", "GRACE", "grace@example.com", "Grace@EXAMPLE.com"} {
			tk := e.Login(login, apitest.StrongPassword)
			if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.RefreshToken == "" || tk.SessionID == "" || tk.User["username"] != "grace" {
				t.Fatalf("login %q: %+v", login, tk)
			}
			if tk.User["last_login_at"] == nil {
				t.Fatalf("last_login_at not set: %+v", tk.User)
			}
		}
		wrong := e.Request("POST", "/v1/auth/login", map[string]any{"login": "grace", "password": "not-the-password"}).ExpectProblem(401, "invalid_credentials")
		unknown := e.Request("POST", "/v1/auth/login", map[string]any{"login": "nobody", "password": "not-the-password"}).ExpectProblem(401, "invalid_credentials")
		unknownEmail := e.Request("POST", "/v1/auth/login", map[string]any{"login": "nobody@example.com", "password": "x"}).ExpectProblem(401, "invalid_credentials")
		if string(wrong.Body) != string(unknown.Body) || string(unknown.Body) != string(unknownEmail.Body) {
			t.Fatalf("unknown user and wrong password answer differently:\n%s\n%s", wrong.Body, unknown.Body)
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "grace"}).ExpectProblem(400, "validation_failed")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "grace", "password": "x", "admin": true}).ExpectProblem(400, "validation_failed")
	})
}

func TestRememberSessionLifetime(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		e.Signup("remy")
		for _, tc := range []struct {
			remember bool
			ttl      time.Duration
		}{{false, 168 * time.Hour}, {true, 720 * time.Hour}} {
			var tk apitest.Tokens
			e.Request("POST", "/v1/auth/login", map[string]any{"login": "remy", "password": apitest.StrongPassword, "remember": tc.remember}).Expect(200).Decode(&tk)
			var s struct {
				Session struct {
					CreatedAt time.Time `json:"created_at"`
					ExpiresAt time.Time `json:"expires_at"`
				} `json:"session"`
			}
			e.As(tk.AccessToken, "GET", "/v1/auth/session", nil).Expect(200).Decode(&s)
			if got := s.Session.ExpiresAt.Sub(s.Session.CreatedAt); got != tc.ttl {
				t.Fatalf("remember=%v: session lifetime %v, want %v", tc.remember, got, tc.ttl)
			}
		}
	})
}

func TestMeAndSession(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("hopper")
		me := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		for _, k := range []string{"id", "email", "username", "first_name", "last_name", "roles", "permissions", "resources", "status", "created_at", "updated_at", "last_login_at"} {
			if _, ok := me[k]; !ok {
				t.Errorf("profile lacks %q: %v", k, me)
			}
		}
		s := e.As(tk.AccessToken, "GET", "/v1/auth/session", nil).Expect(200).JSON()
		if s["valid"] != true || s["session"].(map[string]any)["id"] != tk.SessionID {
			t.Fatalf("session = %v", s)
		}
		e.Request("GET", "/v1/me", nil).ExpectProblem(401, "missing_token")
		e.Request("GET", "/v1/me", nil, "Authorization", "Basic abc").ExpectProblem(401, "missing_token")
		e.As("garbage", "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")
		e.Request("GET", "/v1/me?access_token="+tk.AccessToken, nil).ExpectProblem(401, "missing_token")
		e.Clock.Advance(15*time.Minute + token.Leeway + time.Second)
		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "token_expired")
		e.As(tk.AccessToken, "GET", "/v1/auth/session", nil).ExpectProblem(401, "token_expired")
	})
}

func TestRefreshRotation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("turing")
		refresh := func(rt string) *apitest.Response {
			return e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": rt})
		}
		var t2 apitest.Tokens
		refresh(tk.RefreshToken).Expect(200).Decode(&t2)
		if t2.RefreshToken == tk.RefreshToken || t2.SessionID != tk.SessionID || t2.AccessToken == "" {
			t.Fatalf("refresh did not rotate: %+v", t2)
		}
		e.As(t2.AccessToken, "GET", "/v1/me", nil).Expect(200)

		// Within the grace window the retired token returns the same successor.
		e.Clock.Advance(5 * time.Second)
		var again apitest.Tokens
		refresh(tk.RefreshToken).Expect(200).Decode(&again)
		if again.RefreshToken != t2.RefreshToken {
			t.Fatalf("grace retry gave a new branch")
		}

		// The successor rotates normally; now the first token is no longer the most recent retired one.
		var t3 apitest.Tokens
		refresh(t2.RefreshToken).Expect(200).Decode(&t3)
		refresh(tk.RefreshToken).ExpectProblem(401, "refresh_token_reused")
		// Reuse revoked the whole session: its tokens are refused at once.
		refresh(t3.RefreshToken).ExpectProblem(401, "invalid_refresh_token")
		e.As(t3.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")

		refresh("not-a-token").ExpectProblem(401, "invalid_refresh_token")
		refresh("").ExpectProblem(400, "validation_failed")
	})
}

func TestRefreshReuseAfterGraceWindow(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("knuth")
		var t2 apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(200).Decode(&t2)
		e.Clock.Advance(10*time.Second + time.Millisecond)
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).ExpectProblem(401, "refresh_token_reused")
		e.As(t2.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": t2.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
	})
}

// TestRefreshRace: 20 concurrent refreshes of one token all receive the same
// successor; the same token after the window revokes the session.
func TestRefreshRace(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("lamport")
		const n = 20
		var wg sync.WaitGroup
		got := make([]*apitest.Response, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken})
			}()
		}
		wg.Wait()
		successors := map[string]bool{}
		for _, r := range got {
			if r.Status != 200 {
				t.Fatalf("a concurrent refresh got %d: %s", r.Status, r.Body)
			}
			var out apitest.Tokens
			r.Decode(&out)
			successors[out.RefreshToken] = true
		}
		if len(successors) != 1 {
			t.Fatalf("%d different successors, want 1", len(successors))
		}
		e.Clock.Advance(11 * time.Second)
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).ExpectProblem(401, "refresh_token_reused")
		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
	})
}

func TestLogout(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		a := e.SignupLogin("liskov")
		b := e.Login("liskov", apitest.StrongPassword)
		e.As(a.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
		e.As(a.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": a.RefreshToken}).ExpectProblem(401, "invalid_refresh_token")
		e.As(b.AccessToken, "GET", "/v1/me", nil).Expect(200) // the other session lives

		// Logging out again, without a token, or with garbage, is still 200.
		e.As(a.AccessToken, "POST", "/v1/auth/logout", nil).Expect(200)
		e.Request("POST", "/v1/auth/logout", nil).Expect(200)
		e.As("garbage", "POST", "/v1/auth/logout", nil).Expect(200)

		c := e.Login("liskov", apitest.StrongPassword)
		e.As(c.AccessToken, "POST", "/v1/auth/logout", map[string]any{"all": true}).Expect(200)
		e.As(b.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(c.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		e.As(c.AccessToken, "POST", "/v1/auth/logout", map[string]any{"everything": true}).ExpectProblem(400, "validation_failed")
	})
}

// TestForgedTokens: only tokens signed by our keys, with our claims, pass.
func TestForgedTokens(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("mallory")
		parts := strings.Split(tk.AccessToken, ".")
		var claims map[string]any
		payload, _ := jwt.NewParser().DecodeSegment(parts[1])
		json.Unmarshal(payload, &claims)

		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		e.As(none, "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")

		hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
		hs.Header["kid"] = e.App.Keys.KeySet().Signing().KID
		hsSigned, _ := hs.SignedString(e.App.Keys.KeySet().JWKS())
		e.As(hsSigned, "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")

		// Tampered claims with the original signature.
		claims["sub"] = uuid.NewString()
		body, _ := json.Marshal(claims)
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
		e.As(tampered, "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")

		// Signed by our key but for another audience or issuer.
		for name, cfg := range map[string]token.Config{
			"aud": {Issuer: e.App.Config.JWTIssuer, Audience: "someone-else", TTL: time.Minute},
			"iss": {Issuer: "https://evil.example", Audience: e.App.Config.JWTAudience, TTL: time.Minute},
		} {
			other := token.NewIssuer(e.App.Keys.KeySet, cfg, e.Clock.Now)
			sid, _ := uuid.Parse(tk.SessionID)
			uid, _ := uuid.Parse(tk.User["id"].(string))
			forged, _, err := other.Issue(token.Subject{UserID: uid, SessionID: sid})
			testdb.Must(t, err)
			t.Run("wrong "+name, func(t *testing.T) {
				e := e.WithT(t)
				e.As(forged, "GET", "/v1/me", nil).ExpectProblem(401, "invalid_token")
			})
		}
	})
}

// TestKeyRotation: a token signed before a rotation still verifies; new tokens use the new kid.
func TestKeyRotation(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		before := e.SignupLogin("rivest")
		oldKID := kidOf(t, before.AccessToken)
		cur, err := e.App.Keys.Rotate(t.Context())
		testdb.Must(t, err)
		if cur.KID == oldKID {
			t.Fatal("rotation kept the kid")
		}
		e.As(before.AccessToken, "GET", "/v1/me", nil).Expect(200)
		after := e.Login("rivest", apitest.StrongPassword)
		if got := kidOf(t, after.AccessToken); got != cur.KID {
			t.Fatalf("new token kid %s, want %s", got, cur.KID)
		}
		var set struct {
			Keys []struct{ Kid string } `json:"keys"`
		}
		r := e.Request("GET", "/.well-known/jwks.json", nil).Expect(200)
		r.Decode(&set)
		kids := map[string]bool{}
		for _, k := range set.Keys {
			kids[k.Kid] = true
		}
		if !kids[oldKID] || !kids[cur.KID] || len(set.Keys) != 3 {
			t.Fatalf("JWKS kids %v, want old, current and next", kids)
		}
		if !strings.Contains(r.Header.Get("Cache-Control"), "max-age") {
			t.Fatalf("JWKS Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
		var events struct {
			Events []struct {
				Details map[string]any `json:"details"`
			} `json:"events"`
		}
		e.As(e.AdminLogin().AccessToken, "GET", "/v1/audit?type=key_rotated", nil).Expect(200).Decode(&events)
		if len(events.Events) != 1 || events.Events[0].Details["kid"] != cur.KID || events.Events[0].Details["previous_kid"] != oldKID {
			t.Fatalf("key_rotated events = %+v", events.Events)
		}
	})
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	testdb.Must(t, err)
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

func TestDiscoveryAndHealth(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		oc := e.Request("GET", "/.well-known/openid-configuration", nil).Expect(200).JSON()
		if oc["issuer"] != "http://authsvc.test" || oc["jwks_uri"] != "http://authsvc.test/.well-known/jwks.json" {
			t.Fatalf("openid-configuration = %v", oc)
		}
		e.Request("GET", "/healthz", nil).Expect(200)
		e.Request("GET", "/readyz", nil).Expect(200)
		e.Request("GET", "/no/such/route", nil).ExpectProblem(404, "not_found")
		e.Request("DELETE", "/v1/auth/login", nil).ExpectProblem(405, "method_not_allowed")
		e.App.Store.Close()
		e.Request("GET", "/readyz", nil).ExpectProblem(503, "unavailable")
		e.Request("GET", "/healthz", nil).Expect(200)
	})
}

// TestLoginUpgradesPasswordHash: after the hashing cost is raised, the next
// successful login rehashes the password under the new parameters.
func TestLoginUpgradesPasswordHash(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		id, _ := uuid.Parse(e.Signup("upgrade")["id"].(string))
		before, err := e.App.Store.UserByID(t.Context(), id)
		testdb.Must(t, err)

		raised := apitest.NewOn(t, e.URL, apitest.Vars{"PASSWORD_HASH_ITERATIONS": "2"})
		raised.Request("POST", "/v1/auth/login", map[string]any{"login": "upgrade", "password": "wrong-password"}).ExpectProblem(401, "invalid_credentials")
		if u, _ := raised.App.Store.UserByID(t.Context(), id); u.PasswordHash != before.PasswordHash {
			t.Fatal("a failed login changed the stored hash")
		}
		raised.Login("upgrade", apitest.StrongPassword)
		after, err := raised.App.Store.UserByID(t.Context(), id)
		testdb.Must(t, err)
		if !strings.Contains(after.PasswordHash, ",t=2,") || !strings.Contains(before.PasswordHash, ",t=1,") {
			t.Fatalf("hash not upgraded: %s -> %s", before.PasswordHash, after.PasswordHash)
		}
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("updated_at moved from %v to %v on a login", before.UpdatedAt, after.UpdatedAt)
		}
		raised.Login("upgrade", apitest.StrongPassword)
	})
}
