package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/app"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/password"
)

const kelvinKate = "\u212Aate@example.com" // starts with the Kelvin sign, which strings.ToLower turns into k

// TestEmailLocalPartMustBeASCII: every way an address comes in refuses one
// whose local part has no ASCII form (SMTPUTF8 mailboxes are not supported).
func TestEmailLocalPartMustBeASCII(t *testing.T) {
	apitest.Each(t, apitest.Vars{"EMAIL_VERIFICATION": "optional"}, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin()
		tk := e.SignupLogin("ada")
		other := e.Signup("bob")
		entries := map[string]func(e *apitest.Env, addr string) *apitest.Response{
			"signup": func(e *apitest.Env, addr string) *apitest.Response {
				return e.Request("POST", "/v1/auth/signup", map[string]any{"email": addr, "username": "newbie", "password": apitest.StrongPassword})
			},
			"admin create": func(e *apitest.Env, addr string) *apitest.Response {
				return e.As(admin.AccessToken, "POST", "/v1/users", map[string]any{"email": addr, "username": "newbie", "password": apitest.StrongPassword})
			},
			"admin update": func(e *apitest.Env, addr string) *apitest.Response {
				return e.As(admin.AccessToken, "PATCH", "/v1/users/"+idOf(other), map[string]any{"email": addr})
			},
			"own profile": func(e *apitest.Env, addr string) *apitest.Response {
				return e.As(tk.AccessToken, "PATCH", "/v1/me", map[string]any{"email": addr, "password": apitest.StrongPassword})
			},
			"forgot password": forgotPW,
			"resend":          resend,
		}
		for _, addr := range []string{kelvinKate, "émile@example.com", "ｋate@example.com"} {
			for name, send := range entries {
				t.Run(name+" "+addr, func(t *testing.T) {
					r := send(e.WithT(t), addr).ExpectProblem(400, "validation_failed")
					checkFieldError(t, r, "email", "only ASCII characters before the @")
				})
			}
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE username = 'newbie' OR email NOT IN ('root@example.com', 'ada@example.com', 'bob@example.com')"); n != 0 {
			t.Fatalf("%d refused addresses were stored", n)
		}
		if n := countRows(t, e, "SELECT count(*) FROM mail_outbox"); n != 2 { // the two signups' verification links
			t.Fatalf("%d mails queued; want only the 2 signups'", n)
		}
	})
}

// TestEmailDomainComparesAsALabel: an international domain is stored, matched
// and logged in with as its A-label, whichever way it is spelt.
func TestEmailDomainComparesAsALabel(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		u := e.Request("POST", "/v1/auth/signup", map[string]any{
			"email": " Ada@Bücher.EXAMPLE ", "username": "ada", "password": apitest.StrongPassword,
		}).Expect(201).JSON()["user"].(map[string]any)
		if u["email"] != "Ada@xn--bcher-kva.example" {
			t.Fatalf("stored email %v; want Ada@xn--bcher-kva.example", u["email"])
		}
		for _, spelling := range []string{"ada@xn--bcher-kva.example", "ADA@BÜCHER.example", "ada@ｂüｃｈｅｒ.example"} {
			e.Request("POST", "/v1/auth/signup", map[string]any{"email": spelling, "username": "ada2", "password": apitest.StrongPassword}).
				ExpectProblem(409, "email_taken")
			if got := e.Login(spelling, apitest.StrongPassword).User["id"]; got != u["id"] {
				t.Fatalf("login as %s found %v; want %v", spelling, got, u["id"])
			}
		}
		admin := e.AdminLogin()
		created := e.As(admin.AccessToken, "POST", "/v1/users", map[string]any{
			"email": "bob@Bücher.example", "username": "bob", "password": apitest.StrongPassword,
		}).Expect(201).JSON()["user"].(map[string]any)
		if created["email"] != "bob@xn--bcher-kva.example" {
			t.Fatalf("admin-created email %v", created["email"])
		}
		if n := countRows(t, e, "SELECT count(*) FROM users WHERE email_key IN ('ada@xn--bcher-kva.example', 'bob@xn--bcher-kva.example')"); n != 2 {
			t.Fatalf("%d keys in A-label form; want 2", n)
		}
	})
}

// TestKelvinSignTakesNoSlot: an address that strings.ToLower would make
// kate@example.com can neither sign up over kate nor get her reset mail.
func TestKelvinSignTakesNoSlot(t *testing.T) {
	eachDBMail(t, nil, func(t *testing.T, e *apitest.Env, srv *smtptest.Server, _ apitest.Vars) {
		kate := e.Signup("kate")
		e.Request("POST", "/v1/auth/signup", map[string]any{"email": kelvinKate, "username": "kelvin", "password": apitest.StrongPassword}).
			ExpectProblem(400, "validation_failed")
		forgotPW(e, kelvinKate).ExpectProblem(400, "validation_failed")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": kelvinKate, "password": apitest.StrongPassword}).
			ExpectProblem(401, "invalid_credentials")
		deliverMail(e, 0)

		forgotPW(e, "KATE@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 1)
		if m := srv.Received(); len(m) != 1 || len(m[0].To) != 1 || m[0].To[0] != kate["email"] {
			t.Fatalf("mails %+v; want one to %v", m, kate["email"])
		}
	})
}

// TestOldKelvinRowGivesUpTheSlot: a row stored before these rules, whose key
// strings.ToLower folded into kate@example.com, holds the slot until the start
// that upgrades its database, which gives it its own key: kate can then sign up, and her reset
// mail goes to her; the old row's holder can still log in with its address.
func TestOldKelvinRowGivesUpTheSlot(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t, smtptest.Config{})
		vars := smtpVars(srv, nil)
		e := apitest.New(t, dialect, vars)
		now := e.Clock.Now()
		old := &models.User{ID: uuid.Must(uuid.NewV7()), Email: kelvinKate, Username: "kelvin", Status: models.StatusActive,
			CreatedAt: now, UpdatedAt: now}
		var err error
		old.PasswordHash, err = hasherOf(t, e).Hash(apitest.StrongPassword)
		testdb.Must(t, err)
		testdb.Must(t, e.App.Store.CreateUser(context.Background(), old, []string{models.RoleUser}, nil))
		if _, err := dbOf(t, e).Exec(rebindQ(e, "UPDATE users SET email_key = ? WHERE id = ?"), "kate@example.com", old.ID); err != nil {
			t.Fatal(err)
		}
		signupKate := func(e *apitest.Env) *apitest.Response {
			return e.Request("POST", "/v1/auth/signup", map[string]any{"email": "kate@example.com", "username": "kate", "password": apitest.StrongPassword})
		}
		signupKate(e).ExpectProblem(409, "email_taken") // what the old key did

		// The start that upgrades the database as this change found it (below
		// 00011) gives the old row its true key.
		m, err := e.App.Store.Migrator()
		testdb.Must(t, err)
		testdb.Must(t, m.Down(context.Background()))
		e.Clock.Advance(time.Minute)
		e = apitest.NewOn(t, e.URL, vars)
		signupKate(e).Expect(201)
		forgotPW(e, "kate@example.com").Expect(http.StatusAccepted)
		deliverMail(e, 1)
		if m := srv.Received(); len(m) != 1 || len(m[0].To) != 1 || m[0].To[0] != "kate@example.com" {
			t.Fatalf("mails %+v; want one to kate@example.com", m)
		}
		if got := e.Login(kelvinKate, apitest.StrongPassword).User["id"]; got != old.ID.String() {
			t.Fatalf("the old row's login found %v; want %s", got, old.ID)
		}
	})
}

// hasherOf is a password hasher with the service's parameters.
func hasherOf(t *testing.T, e *apitest.Env) *password.Hasher {
	t.Helper()
	h, err := app.NewHasher(e.App.Config)
	testdb.Must(t, err)
	return h
}
