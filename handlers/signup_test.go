package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
)

// signupBody is a signup request; extra fields override or add.
func signupBody(username, pw string, extra ...string) map[string]any {
	b := map[string]any{"email": username + "@example.com", "username": username, "password": pw}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i]] = extra[i+1]
	}
	return b
}

func TestSignupPasswordLength(t *testing.T) {
	// Score 0 checks the length only: 8 to 128 characters, counted as characters, not bytes.
	apitest.Each(t, apitest.Vars{"PASSWORD_MIN_SCORE": "0"}, func(t *testing.T, e *apitest.Env) {
		for _, tc := range []struct {
			name, pw string
			ok       bool
			why      string
		}{
			{"8 repeated letters", "aaaaaaaa", true, ""},
			{"7 letters", "aaaaaaa", false, "must be at least 8 characters"},
			{"7 two-byte letters", strings.Repeat("é", 7), false, "must be at least 8 characters"},
			{"8 two-byte letters", strings.Repeat("é", 8), true, ""},
			{"128 characters", strings.Repeat("ab", 64), true, ""},
			{"128 two-byte letters", strings.Repeat("é", 128), true, ""},
			{"129 characters", strings.Repeat("a", 129), false, "must be at most 128 characters"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				user := "u" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
				r := e.Request("POST", "/v1/auth/signup", signupBody(user, tc.pw))
				if tc.ok {
					r.Expect(http.StatusCreated)
					e.Login(user, tc.pw)
					return
				}
				r.ExpectProblem(400, "validation_failed")
				checkFieldError(t, r, "password", tc.why)
				e.Request("POST", "/v1/auth/login", map[string]any{"login": user, "password": tc.pw}).ExpectProblem(401, "invalid_credentials")
			})
		}
	})
}

func TestSignupPasswordStrength(t *testing.T) {
	// The default policy (score 3) with the user's own details as zxcvbn inputs.
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		const fromUser = "it is based on your name, username or email address"
		for _, tc := range []struct {
			name string
			body map[string]any
			why  string
		}{
			{"from the username", signupBody("xylarbent1987", "Xylarbent1987!"), fromUser},
			{"the username twice", signupBody("xylarbent", "xylarbentxylarbent"), fromUser},
			{"from the email address", map[string]any{"email": "quorvane.zembrith@example.com", "username": "qzz", "password": "QuorvaneZembrith"}, fromUser},
			{"from the names", signupBody("pvx", "Plimtash-Vordrexa", "first_name", "Plimtash", "last_name", "Vordrexa"), fromUser},
			{"common password", signupBody("common", "password123"), "it is a commonly used password"},
			{"repeated characters", signupBody("repeat", "aaaaaaaaaaaa"), "it contains repeated characters"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.WithT(t)
				r := e.Request("POST", "/v1/auth/signup", tc.body).ExpectProblem(400, "validation_failed")
				// The zxcvbn reason is the first field error's message.
				checkFieldError(t, r, "password", "is too easy to guess: "+tc.why)
				if strings.Contains(string(r.Body), tc.body["password"].(string)) {
					t.Errorf("the answer repeats the password: %s", r.Body)
				}
			})
		}
		// The same passwords are fine for someone whose details they do not contain:
		// what refused them above was the user's own details.
		for i, pw := range []string{"Xylarbent1987!", "xylarbentxylarbent", "QuorvaneZembrith", "Plimtash-Vordrexa"} {
			user := "other" + string(rune('a'+i))
			e.Request("POST", "/v1/auth/signup", signupBody(user, pw)).Expect(http.StatusCreated)
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE username IN ('xylarbent1987', 'xylarbent', 'qzz', 'pvx', 'common', 'repeat')"); n != 0 {
			t.Fatalf("%d refused signups created a user", n)
		}
	})
}

func TestSignupUsernameAndEmailRules(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		for _, tc := range []struct {
			username string
			want     string // the stored username; "" when refused
		}{
			{"ab", ""},
			{strings.Repeat("a", 33), ""},
			{strings.Repeat("b", 32), strings.Repeat("b", 32)},
			{"a.b_c-d", "a.b_c-d"},
			{"  padded  ", "padded"},
			{"two words", ""},
			{"at@sign", ""},
			{"ünïcode", ""},
			{"", ""},
		} {
			t.Run("username "+tc.username, func(t *testing.T) {
				e := e.WithT(t)
				body := map[string]any{"email": uuid.NewString()[:8] + "@example.com", "username": tc.username, "password": apitest.StrongPassword}
				r := e.Request("POST", "/v1/auth/signup", body)
				if tc.want == "" {
					r.ExpectProblem(400, "validation_failed")
					checkFieldError(t, r, "username", "")
					return
				}
				if got := r.Expect(201).JSON()["user"].(map[string]any)["username"]; got != tc.want {
					t.Fatalf("username %q stored as %q; want %q", tc.username, got, tc.want)
				}
			})
		}

		// Trimmed, domain lower-cased, local part kept; names trimmed.
		u := e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "\t Mixed.Case@Sub.EXAMPLE.com  ", "username": "mixed", "password": apitest.StrongPassword,
			"first_name": "  Marie ", "last_name": " Curie\t",
		}).Expect(201).JSON()["user"].(map[string]any)
		if u["email"] != "Mixed.Case@sub.example.com" || u["first_name"] != "Marie" || u["last_name"] != "Curie" {
			t.Fatalf("stored %v", u)
		}
		e.Login("mixed.case@SUB.example.com", apitest.StrongPassword)
		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": "MIXED.CASE@sub.example.com", "username": "mixed2", "password": apitest.StrongPassword,
		}).ExpectProblem(409, "email_taken")
		e.Request("POST", "/v1/auth/signup", signupBody("long", apitest.StrongPassword, "first_name", strings.Repeat("x", 101))).
			ExpectProblem(400, "validation_failed")
		e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": strings.Repeat("a", 250) + "@example.com", "username": "longmail", "password": apitest.StrongPassword,
		}).ExpectProblem(400, "validation_failed")
	})
}

func TestSignupApprovalFlow(t *testing.T) {
	apitest.Each(t, apitest.Vars{"SIGNUP_REQUIRES_APPROVAL": "true"}, func(t *testing.T, e *apitest.Env) {
		u := e.Request("POST", "/v1/auth/signup", signupBody("newbie", apitest.StrongPassword)).Expect(201).JSON()["user"].(map[string]any)
		if u["status"] != "pending" || !slices.Equal(toStrings(u["roles"]), []string{"user"}) {
			t.Fatalf("signup = %v; want pending with role user", u)
		}
		evs := auditRowsOf(t, e, "signup")
		if len(evs) != 1 || evs[0].UserID != idOf(u) || !strings.Contains(evs[0].Details, `"pending"`) {
			t.Fatalf("signup events %+v", evs)
		}
		login := func(pw string) *apitest.Response {
			return e.Request("POST", "/v1/auth/login", map[string]any{"login": "newbie", "password": pw})
		}
		login(apitest.StrongPassword).ExpectProblem(403, "account_pending")
		login("wrong-password-0").ExpectProblem(401, "invalid_credentials") // the state is told only to the password holder

		// An admin approves.
		admin := e.AdminLogin()
		approved := e.As(admin.AccessToken, "PATCH", "/v1/users/"+idOf(u), map[string]any{"status": "active"}).
			Expect(200).JSON()["user"].(map[string]any)
		if approved["status"] != "active" {
			t.Fatalf("after approval: %v", approved)
		}
		tk := login(apitest.StrongPassword).Expect(200)
		var tokens apitest.Tokens
		tk.Decode(&tokens)
		if me := e.As(tokens.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any); me["status"] != "active" {
			t.Fatalf("after approval: %v", me)
		}

		e.As(admin.AccessToken, "PATCH", "/v1/users/"+idOf(u), map[string]any{"status": "disabled"}).Expect(200)
		e.As(tokens.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		login(apitest.StrongPassword).ExpectProblem(403, "account_disabled")
	})
}

func TestSignupAdminKey(t *testing.T) {
	const key = "admin-signup-key-0123456789abcdef"
	apitest.Each(t, apitest.Vars{"ADMIN_SIGNUP_KEY": key}, func(t *testing.T, e *apitest.Env) {
		for name, wrong := range map[string]string{
			"one character off": key[:len(key)-1] + "0",
			"a prefix":          key[:10],
			"longer":            key + "x",
			"other case":        strings.ToUpper(key),
		} {
			t.Run(name, func(t *testing.T) {
				e := e.WithT(t)
				e.Request("POST", "/v1/auth/signup", signupBody("intruder", apitest.StrongPassword, "admin_key", wrong)).
					ExpectProblem(403, "invalid_admin_key")
			})
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE username = 'intruder'"); n != 0 {
			t.Fatal("a signup with a wrong key created the user")
		}
		evs := auditRowsOf(t, e, "signup_rejected")
		if len(evs) != 4 {
			t.Fatalf("%d signup_rejected events; want 4", len(evs))
		}
		for _, ev := range evs {
			if ev.UserID != "" || !strings.Contains(ev.Details, "invalid_admin_key") || strings.Contains(ev.Details, key[:10]) {
				t.Errorf("signup_rejected event %+v", ev)
			}
		}

		u := e.Request("POST", "/v1/auth/signup", signupBody("boss", apitest.StrongPassword, "admin_key", key)).Expect(201).JSON()["user"].(map[string]any)
		if !slices.Equal(toStrings(u["roles"]), []string{"admin", "user"}) || !slices.Contains(toStrings(u["permissions"]), "users:write") {
			t.Fatalf("admin-key signup = %v", u)
		}
		// Without a key: an ordinary user, even though the feature is on.
		u = e.Request("POST", "/v1/auth/signup", signupBody("plain", apitest.StrongPassword)).Expect(201).JSON()["user"].(map[string]any)
		if !slices.Equal(toStrings(u["roles"]), []string{"user"}) || len(u["permissions"].([]any)) != 0 {
			t.Fatalf("plain signup = %v", u)
		}
	})
}
