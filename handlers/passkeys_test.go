package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/internal/webauthntest"
)

// theRP is the relying party of the tests' PUBLIC_URL (http://authsvc.test).
var theRP = virtualwebauthn.RelyingParty{ID: "authsvc.test", Name: "authsvc", Origin: "http://authsvc.test"}

// device is a software authenticator holding one passkey of a user.
type device struct {
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newDevice(t *testing.T, userID string) *device {
	t.Helper()
	id, err := uuid.Parse(userID)
	testdb.Must(t, err)
	return &device{
		auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: id[:]}),
		cred: webauthntest.NewCredential(),
	}
}

type ceremony struct {
	ChallengeID string          `json:"challenge_id"`
	PublicKey   json.RawMessage `json:"public_key"`
}

// registerOptions starts a registration for the signed-in user.
func registerOptions(e *apitest.Env, tok string) ceremony {
	e.T.Helper()
	var c ceremony
	e.As(tok, "POST", "/v1/me/passkeys/register/options", map[string]any{"password": apitest.StrongPassword}).Expect(200).Decode(&c)
	return c
}

// attest is what the browser would send to finish registration c, as rp.
func (d *device) attest(t *testing.T, c ceremony, rp virtualwebauthn.RelyingParty) json.RawMessage {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(c.PublicKey))
	testdb.Must(t, err)
	return json.RawMessage(virtualwebauthn.CreateAttestationResponse(rp, d.auth, d.cred, *opts))
}

func finishRegister(e *apitest.Env, tok string, c ceremony, credential json.RawMessage) *apitest.Response {
	e.T.Helper()
	return e.As(tok, "POST", "/v1/me/passkeys/register", map[string]any{"challenge_id": c.ChallengeID, "name": "Laptop", "credential": credential})
}

// register adds the device's passkey to the signed-in user.
func (d *device) register(e *apitest.Env, tok string) map[string]any {
	e.T.Helper()
	c := registerOptions(e, tok)
	return finishRegister(e, tok, c, d.attest(e.T.(*testing.T), c, theRP)).Expect(http.StatusCreated).JSON()["passkey"].(map[string]any)
}

func loginOptions(e *apitest.Env) ceremony {
	e.T.Helper()
	var c ceremony
	e.Request("POST", "/v1/auth/passkey/options", nil).Expect(200).Decode(&c)
	return c
}

// assert is what the browser would send to finish login c, as rp.
func (d *device) assert(t *testing.T, c ceremony, rp virtualwebauthn.RelyingParty) json.RawMessage {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(c.PublicKey))
	testdb.Must(t, err)
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(rp, d.auth, d.cred, *opts))
}

func finishLogin(e *apitest.Env, c ceremony, credential json.RawMessage) *apitest.Response {
	e.T.Helper()
	return e.Request("POST", "/v1/auth/passkey/login", map[string]any{"challenge_id": c.ChallengeID, "credential": credential})
}

// login logs in with the device's passkey.
func (d *device) login(e *apitest.Env) *apitest.Response {
	e.T.Helper()
	c := loginOptions(e)
	return finishLogin(e, c, d.assert(e.T.(*testing.T), c, theRP))
}

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		e.As(tk.AccessToken, "POST", "/v1/me/passkeys/register/options", map[string]any{"password": "wrong-Password-1"}).
			ExpectProblem(401, "invalid_credentials")
		d := newDevice(t, tk.User["id"].(string))
		pk := d.register(e, tk.AccessToken)
		if pk["name"] != "Laptop" || pk["last_used_at"] != nil {
			t.Errorf("registered passkey %v", pk)
		}
		// The options exclude it now, and name the relying party.
		var opts struct {
			RP                 struct{ ID string }
			ExcludeCredentials []struct{ ID string } `json:"excludeCredentials"`
			AuthenticatorSel   struct {
				ResidentKey string `json:"residentKey"`
			} `json:"authenticatorSelection"`
		}
		testdb.Must(t, json.Unmarshal(registerOptions(e, tk.AccessToken).PublicKey, &opts))
		if opts.RP.ID != "authsvc.test" || len(opts.ExcludeCredentials) != 1 || opts.AuthenticatorSel.ResidentKey != "required" {
			t.Errorf("registration options %+v", opts)
		}

		var session apitest.Tokens
		d.login(e).Expect(200).Decode(&session)
		if got := claimAMR(t, session.AccessToken); !slices.Equal(got, []string{"hwk", "user"}) {
			t.Errorf("amr after a passkey %v; want [hwk user]", got)
		}
		if session.User["username"] != "ada" {
			t.Errorf("logged in as %v", session.User["username"])
		}
		var refreshed apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": session.RefreshToken}).Expect(200).Decode(&refreshed)
		if got := claimAMR(t, refreshed.AccessToken); !slices.Equal(got, []string{"hwk", "user"}) {
			t.Errorf("amr after a refresh %v", got)
		}
		var list struct{ Passkeys []map[string]any }
		e.As(session.AccessToken, "GET", "/v1/me/passkeys", nil).Expect(200).Decode(&list)
		if len(list.Passkeys) != 1 || list.Passkeys[0]["last_used_at"] == nil {
			t.Errorf("passkeys %v; want one, used", list.Passkeys)
		}
		if n := meOf(e, session.AccessToken)["mfa"].(map[string]any)["passkeys"]; n != float64(1) {
			t.Errorf("mfa.passkeys %v; want 1", n)
		}
		// A user with TOTP on: a passkey with user verification is a whole login.
		e.As(session.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(201)
		d.cred.Counter++
		d.login(e).Expect(200)
	})
}

func TestPasskeyCeremoniesRefused(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		d := newDevice(t, tk.User["id"].(string))
		for name, rp := range map[string]virtualwebauthn.RelyingParty{
			"foreign origin": {ID: theRP.ID, Name: theRP.Name, Origin: "http://evil.test"},
			"foreign RP ID":  {ID: "evil.test", Name: theRP.Name, Origin: theRP.Origin},
		} {
			c := registerOptions(e, tk.AccessToken)
			finishRegister(e, tk.AccessToken, c, d.attest(t, c, rp)).ExpectProblem(400, "invalid_passkey")
			t.Logf("registration with a %s refused", name)
		}
		// A used registration challenge.
		c := registerOptions(e, tk.AccessToken)
		finishRegister(e, tk.AccessToken, c, d.attest(t, c, theRP)).Expect(201)
		other := newDevice(t, tk.User["id"].(string))
		finishRegister(e, tk.AccessToken, c, other.attest(t, c, theRP)).ExpectProblem(400, "invalid_passkey")
		// Another user's ceremony.
		bob := e.SignupLogin("bob")
		c = registerOptions(e, bob.AccessToken)
		finishRegister(e, tk.AccessToken, c, other.attest(t, c, theRP)).ExpectProblem(400, "invalid_passkey")

		for name, rp := range map[string]virtualwebauthn.RelyingParty{
			"foreign origin": {ID: theRP.ID, Name: theRP.Name, Origin: "http://evil.test"},
			"foreign RP ID":  {ID: "evil.test", Name: theRP.Name, Origin: theRP.Origin},
		} {
			c := loginOptions(e)
			finishLogin(e, c, d.assert(t, c, rp)).ExpectProblem(401, "invalid_passkey")
			t.Logf("login with a %s refused", name)
		}
		// A used login challenge, an expired one, an unknown credential.
		c = loginOptions(e)
		finishLogin(e, c, d.assert(t, c, theRP)).Expect(200)
		d.cred.Counter++
		finishLogin(e, c, d.assert(t, c, theRP)).ExpectProblem(401, "invalid_passkey")
		c = loginOptions(e)
		e.Clock.Advance(5*time.Minute + time.Second)
		finishLogin(e, c, d.assert(t, c, theRP)).ExpectProblem(401, "invalid_passkey")
		stranger := newDevice(t, tk.User["id"].(string))
		stranger.login(e).ExpectProblem(401, "invalid_passkey")
		// A passkey without user verification is no whole login.
		lazy := *d
		lazy.auth.Options.UserNotVerified = true
		lazy.cred.Counter += 10
		lazy.login(e).ExpectProblem(401, "invalid_passkey")
		e.Request("POST", "/v1/auth/passkey/login", map[string]any{"challenge_id": "nope", "credential": map[string]any{}}).
			ExpectProblem(400, "validation_failed")
		finishLogin(e, loginOptions(e), json.RawMessage(`{"id": "x"}`)).ExpectProblem(401, "invalid_passkey")
	})
}

// A signature counter that goes backwards is a cloned authenticator: refused
// and audited. Authenticators that always say 0 are fine.
func TestPasskeyCounter(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		zero := newDevice(t, tk.User["id"].(string))
		zero.register(e, tk.AccessToken)
		zero.login(e).Expect(200)
		zero.login(e).Expect(200)

		d := newDevice(t, tk.User["id"].(string))
		d.register(e, tk.AccessToken)
		d.cred.Counter = 5
		d.login(e).Expect(200)
		d.cred.Counter = 3
		d.login(e).ExpectProblem(401, "invalid_passkey")
		d.cred.Counter = 5 // the same value again is no progress either
		d.login(e).ExpectProblem(401, "invalid_passkey")
		d.cred.Counter = 6
		d.login(e).Expect(200)

		admin := e.AdminLogin()
		events := auditEvents(t, e, admin.AccessToken, "type=passkey_clone_suspected")
		if len(events) != 2 {
			t.Errorf("%d passkey_clone_suspected events; want 2", len(events))
		}
	})
}

func TestPasskeyLoginIsAFullLogin(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "2"}, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin()
		ada, bob := e.SignupLogin("ada"), e.SignupLogin("bob")
		da, db := newDevice(t, ada.User["id"].(string)), newDevice(t, bob.User["id"].(string))
		da.register(e, ada.AccessToken)
		db.register(e, bob.AccessToken)

		// Disabled: 403.
		e.As(admin.AccessToken, "PATCH", "/v1/users/"+ada.User["id"].(string), map[string]any{"status": "disabled"}).Expect(200)
		da.login(e).ExpectProblem(403, "account_disabled")
		// Locked: passwords are refused, a passkey still logs in (it cannot be
		// guessed), and lifts the lock.
		for range 2 {
			e.Request("POST", "/v1/auth/login", map[string]any{"login": "bob", "password": "wrong-Password-1"}).ExpectProblem(401, "invalid_credentials")
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "bob", "password": apitest.StrongPassword}).ExpectProblem(429, "too_many_attempts")
		db.cred.Counter++
		db.login(e).Expect(200)
		e.Login("bob", apitest.StrongPassword)

		// Another user's passkey is not yours to delete; your own is.
		var list struct{ Passkeys []map[string]any }
		bobNow := e.Login("bob", apitest.StrongPassword)
		e.As(bobNow.AccessToken, "GET", "/v1/me/passkeys", nil).Expect(200).Decode(&list)
		carol := e.SignupLogin("carol")
		e.As(carol.AccessToken, "DELETE", "/v1/me/passkeys/"+list.Passkeys[0]["id"].(string), nil).ExpectProblem(404, "passkey_not_found")
		e.As(carol.AccessToken, "DELETE", "/v1/me/passkeys/not-a-uuid", nil).ExpectProblem(404, "passkey_not_found")
		e.As(bobNow.AccessToken, "DELETE", "/v1/me/passkeys/"+list.Passkeys[0]["id"].(string), nil).Expect(http.StatusNoContent)
		db.cred.Counter++
		db.login(e).ExpectProblem(401, "invalid_passkey")

		// An admin's reset of the factors takes passkeys too, and the sessions.
		e.As(admin.AccessToken, "PATCH", "/v1/users/"+ada.User["id"].(string), map[string]any{"status": "active"}).Expect(200)
		adaNow := e.Login("ada", apitest.StrongPassword)
		e.As(admin.AccessToken, "DELETE", "/v1/users/"+ada.User["id"].(string)+"/mfa", nil).Expect(http.StatusNoContent)
		e.As(adaNow.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		da.cred.Counter++
		da.login(e).ExpectProblem(401, "invalid_passkey")
		if n := meOf(e, e.Login("ada", apitest.StrongPassword).AccessToken)["mfa"].(map[string]any)["passkeys"]; n != float64(0) {
			t.Errorf("mfa.passkeys after the reset: %v", n)
		}
		types := map[string]int{}
		for _, ev := range auditEvents(t, e, admin.AccessToken, "") {
			types[fmt.Sprint(ev["type"])]++
		}
		if types["passkey_added"] != 2 || types["passkey_removed"] != 1 || types["passkey_login"] < 1 {
			t.Errorf("audit %v", types)
		}
	})
}

// With PUBLIC_URL on an IP address and no WEBAUTHN_RP_ID, passkeys are off.
func TestPasskeysOffWithoutADomain(t *testing.T) {
	apitest.Each(t, apitest.Vars{"PUBLIC_URL": "http://127.0.0.1:8080"}, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		e.Request("POST", "/v1/auth/passkey/options", nil).ExpectProblem(404, "passkeys_disabled")
		e.As(tk.AccessToken, "POST", "/v1/me/passkeys/register/options", map[string]any{"password": apitest.StrongPassword}).
			ExpectProblem(404, "passkeys_disabled")
		e.As(tk.AccessToken, "GET", "/v1/me/passkeys", nil).ExpectProblem(404, "passkeys_disabled")
	})
}
