package handlers_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
)

// hotp is RFC 4226's HOTP with SHA-1, written here so that the tests check
// the service's codes against an implementation of their own.
func hotp(key []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, key)
	binary.Write(mac, binary.BigEndian, counter)
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// totpAt is RFC 6238's TOTP (SHA-1, 30 s steps, 6 digits) for a base32 secret.
func totpAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(strings.ToUpper(secret), "="))
	testdb.Must(t, err)
	return hotp(key, uint64(at.Unix()/30), 6)
}

// The computation the tests rely on, against RFC 6238's SHA-1 test vectors.
func TestTOTPTestVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for unix, want := range map[int64]string{
		59: "94287082", 1111111109: "07081804", 1111111111: "14050471",
		1234567890: "89005924", 2000000000: "69279037", 20000000000: "65353130",
	} {
		if got := hotp(key, uint64(unix/30), 8); got != want {
			t.Errorf("T=%d: %s, want %s", unix, got, want)
		}
	}
}

// mfaUser signs up a user, turns TOTP on with the current code and returns
// the login's tokens (a session from before TOTP), the secret and the
// recovery codes. The clock moves one step on, so the next code is fresh.
func mfaUser(e *apitest.Env, name string) (apitest.Tokens, string, []string) {
	t := e.T
	t.Helper()
	tk := e.SignupLogin(name)
	var enrol struct {
		Secret     string `json:"secret"`
		OTPAuthURL string `json:"otpauth_url"`
		QRPNG      string `json:"qr_png"`
	}
	e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": apitest.StrongPassword}).Expect(http.StatusCreated).Decode(&enrol)
	var codes struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": totpAt(t, enrol.Secret, e.Clock.Now())}).
		Expect(http.StatusOK).Decode(&codes)
	e.Clock.Advance(30 * time.Second)
	return tk, enrol.Secret, codes.RecoveryCodes
}

// mfaToken logs in with the password and returns the second step's token.
func mfaToken(e *apitest.Env, login string, remember bool) string {
	e.T.Helper()
	m := e.Request("POST", "/v1/auth/login", map[string]any{"login": login, "password": apitest.StrongPassword, "remember": remember}).
		Expect(http.StatusOK).JSON()
	if m["mfa_required"] != true || m["access_token"] != nil || m["refresh_token"] != nil {
		e.T.Fatalf("login of a user with TOTP on answered %v; want mfa_required and no tokens", m)
	}
	if m["expires_in"] != float64(300) || fmt.Sprint(m["methods"]) != "[totp recovery_code]" {
		e.T.Errorf("second step %v; want expires_in 300, methods [totp recovery_code]", m)
	}
	return m["mfa_token"].(string)
}

func secondStep(e *apitest.Env, token string, factor map[string]any) *apitest.Response {
	e.T.Helper()
	body := map[string]any{"mfa_token": token}
	for k, v := range factor {
		body[k] = v
	}
	return e.Request("POST", "/v1/auth/mfa", body)
}

// claimAMR is the amr claim of an access token.
func claimAMR(t *testing.T, tok string) []string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	testdb.Must(t, err)
	var c struct {
		AMR []string `json:"amr"`
	}
	testdb.Must(t, json.Unmarshal(raw, &c))
	return c.AMR
}

func TestTOTPEnrolment(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk := e.SignupLogin("ada")
		other := e.Login("ada", apitest.StrongPassword) // another device
		start := func(pw string) *apitest.Response {
			return e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp", map[string]any{"password": pw})
		}
		start("wrong-Password-123").ExpectProblem(401, "invalid_credentials")
		e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": "123456"}).ExpectProblem(409, "mfa_not_started")

		first := start(apitest.StrongPassword).Expect(http.StatusCreated).JSON()
		enrol := start(apitest.StrongPassword).Expect(http.StatusCreated).JSON() // replaces the unconfirmed one
		secret := enrol["secret"].(string)
		if secret == first["secret"] || len(secret) < 32 {
			t.Fatalf("secrets %q then %q; want a new secret of 160 bits", first["secret"], secret)
		}
		if u := enrol["otpauth_url"].(string); !strings.HasPrefix(u, "otpauth://totp/") || !strings.Contains(u, "secret="+secret) ||
			!strings.Contains(u, "issuer=authsvc.test") || !strings.Contains(u, ":ada@example.com?") {
			t.Errorf("otpauth_url %q", u)
		}
		qr, ok := strings.CutPrefix(enrol["qr_png"].(string), "data:image/png;base64,")
		if !ok {
			t.Fatalf("qr_png %.40q: want a PNG data URL", enrol["qr_png"])
		}
		raw, err := base64.StdEncoding.DecodeString(qr)
		testdb.Must(t, err)
		if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
			t.Errorf("qr_png is no PNG: %v", err)
		}

		confirm := func(code string) *apitest.Response {
			return e.As(tk.AccessToken, "POST", "/v1/me/mfa/totp/confirm", map[string]any{"code": code})
		}
		now := e.Clock.Now()
		confirm(totpAt(t, first["secret"].(string), now)).ExpectProblem(400, "invalid_mfa_code") // the replaced secret
		confirm(totpAt(t, secret, now.Add(-90*time.Second))).ExpectProblem(400, "invalid_mfa_code")
		var codes struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		confirm(totpAt(t, secret, now)).Expect(200).Decode(&codes)
		if len(codes.RecoveryCodes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes.RecoveryCodes)))) != 10 {
			t.Fatalf("recovery codes %v; want 10 different ones", codes.RecoveryCodes)
		}
		confirm(totpAt(t, secret, now)).ExpectProblem(409, "mfa_already_enabled")
		start(apitest.StrongPassword).ExpectProblem(409, "mfa_already_enabled")

		// The other device's session ends; this one goes on.
		e.As(other.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		me := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if mfa := me["mfa"].(map[string]any); mfa["totp"] != true || mfa["recovery_codes_left"] != float64(10) || mfa["passkeys"] != float64(0) {
			t.Errorf("mfa %v after confirming", mfa)
		}
	})
}

func TestTOTPLogin(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		before, secret, _ := mfaUser(e, "ada")
		if got := claimAMR(t, before.AccessToken); !slices.Equal(got, []string{"pwd"}) {
			t.Errorf("amr of a password login %v; want [pwd]", got)
		}
		code := func(offset time.Duration) map[string]any {
			return map[string]any{"code": totpAt(t, secret, e.Clock.Now().Add(offset))}
		}

		// The code of the step used to confirm is spent; so is one two steps away.
		tok := mfaToken(e, "ada", false)
		secondStep(e, tok, code(-30*time.Second)).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, tok, code(60*time.Second)).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, tok, code(-60*time.Second)).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, "not-a-token", code(0)).ExpectProblem(401, "invalid_mfa_token")
		secondStep(e, tok, map[string]any{"code": "123456", "recovery_code": "abcde-fghij"}).ExpectProblem(400, "validation_failed")
		secondStep(e, tok, nil).ExpectProblem(400, "validation_failed")

		var tk apitest.Tokens
		secondStep(e, tok, code(0)).Expect(200).Decode(&tk)
		want := []string{"pwd", "otp", "mfa"}
		if got := claimAMR(t, tk.AccessToken); !slices.Equal(got, want) {
			t.Errorf("amr after a TOTP code %v; want %v", got, want)
		}
		secondStep(e, tok, code(30*time.Second)).ExpectProblem(401, "invalid_mfa_token") // single use

		// The same code again, on a new login: a replay.
		secondStep(e, mfaToken(e, "ada", false), code(0)).ExpectProblem(401, "invalid_mfa_code")
		// One step ahead is within the skew, once.
		tok2 := mfaToken(e, "ada", false)
		secondStep(e, tok2, code(30*time.Second)).Expect(200)

		// amr shows in the session check, /v1/me and introspection, and survives a refresh.
		sess := e.As(tk.AccessToken, "GET", "/v1/auth/session", nil).Expect(200).JSON()["session"].(map[string]any)
		if fmt.Sprint(sess["amr"]) != "[pwd otp mfa]" {
			t.Errorf("session amr %v", sess["amr"])
		}
		if got := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["amr"]; fmt.Sprint(got) != "[pwd otp mfa]" {
			t.Errorf("/v1/me amr %v", got)
		}
		if got := introspectJSON(e, tk.AccessToken).Expect(200).JSON()["amr"]; fmt.Sprint(got) != "[pwd otp mfa]" {
			t.Errorf("introspection amr %v", got)
		}
		var refreshed apitest.Tokens
		e.Request("POST", "/v1/auth/refresh", map[string]any{"refresh_token": tk.RefreshToken}).Expect(200).Decode(&refreshed)
		if got := claimAMR(t, refreshed.AccessToken); !slices.Equal(got, want) {
			t.Errorf("amr after a refresh %v; want %v", got, want)
		}
	})
}

func TestRecoveryCodeLogin(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		_, _, codes := mfaUser(e, "ada")
		var tk apitest.Tokens
		// Case, spaces and dashes as a person may type them.
		typed := " " + strings.ToUpper(strings.ReplaceAll(codes[3], "-", " ")) + " "
		secondStep(e, mfaToken(e, "ada", true), map[string]any{"recovery_code": typed}).Expect(200).Decode(&tk)
		if got := claimAMR(t, tk.AccessToken); !slices.Equal(got, []string{"pwd", "mfa"}) {
			t.Errorf("amr after a recovery code %v; want [pwd mfa]", got)
		}
		// remember: true carried through the second step: the 30-day session.
		sess := e.As(tk.AccessToken, "GET", "/v1/auth/session", nil).Expect(200).JSON()["session"].(map[string]any)
		exp, err := time.Parse(time.RFC3339, sess["expires_at"].(string))
		testdb.Must(t, err)
		if d := exp.Sub(e.Clock.Now()); d < 29*24*time.Hour {
			t.Errorf("session of a remembered login expires in %v; want 30 days", d)
		}
		me := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if left := me["mfa"].(map[string]any)["recovery_codes_left"]; left != float64(9) {
			t.Errorf("recovery_codes_left %v; want 9", left)
		}
		secondStep(e, mfaToken(e, "ada", false), map[string]any{"recovery_code": codes[3]}).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, mfaToken(e, "ada", false), map[string]any{"recovery_code": "zzzzz-zzzzz"}).ExpectProblem(401, "invalid_mfa_code")
	})
}

func TestMFATokenLimits(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk, secret, _ := mfaUser(e, "ada")
		good := func() map[string]any { return map[string]any{"code": totpAt(t, secret, e.Clock.Now())} }

		// Five wrong codes kill the token: the sixth attempt fails, right code or not.
		tok := mfaToken(e, "ada", false)
		for range 5 {
			secondStep(e, tok, map[string]any{"code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		}
		secondStep(e, tok, good()).ExpectProblem(401, "invalid_mfa_token")

		// Five minutes, by the service's clock.
		tok = mfaToken(e, "ada", false)
		e.Clock.Advance(5*time.Minute + time.Second)
		secondStep(e, tok, good()).ExpectProblem(401, "invalid_mfa_token")

		// A password change in between ends the step.
		tok = mfaToken(e, "ada", false)
		e.As(tk.AccessToken, "POST", "/v1/me/password", map[string]any{
			"old_password": apitest.StrongPassword, "new_password": "another-Harbor-tunnel-77!"}).Expect(200)
		secondStep(e, tok, good()).ExpectProblem(401, "invalid_mfa_token")
	})
}

// Wrong codes count toward the lockout like wrong passwords, and the password
// step alone does not reset the count.
func TestWrongCodesLockLogin(t *testing.T) {
	apitest.Each(t, apitest.Vars{"LOCKOUT_THRESHOLD": "3"}, func(t *testing.T, e *apitest.Env) {
		_, secret, _ := mfaUser(e, "ada")
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": "wrong-Password-1"}).ExpectProblem(401, "invalid_credentials")
		tok := mfaToken(e, "ada", false) // the password step: the count stays at 1
		secondStep(e, tok, map[string]any{"code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, tok, map[string]any{"code": "000001"}).ExpectProblem(401, "invalid_mfa_code") // the third failure locks
		r := secondStep(e, tok, map[string]any{"code": totpAt(t, secret, e.Clock.Now())}).ExpectProblem(429, "too_many_attempts")
		if r.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on a locked second step")
		}
		e.Request("POST", "/v1/auth/login", map[string]any{"login": "ada", "password": apitest.StrongPassword}).ExpectProblem(429, "too_many_attempts")
	})
}

func TestRegenerateAndDisable(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk, secret, old := mfaUser(e, "ada")
		code := func() string { return totpAt(t, secret, e.Clock.Now()) }
		regen := func(body map[string]any) *apitest.Response {
			return e.As(tk.AccessToken, "POST", "/v1/me/mfa/recovery-codes", body)
		}
		regen(map[string]any{"password": "wrong-Password-1", "code": code()}).ExpectProblem(401, "invalid_credentials")
		regen(map[string]any{"password": apitest.StrongPassword, "code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		var fresh struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		regen(map[string]any{"password": apitest.StrongPassword, "code": code()}).Expect(200).Decode(&fresh)
		e.Clock.Advance(30 * time.Second)
		secondStep(e, mfaToken(e, "ada", false), map[string]any{"recovery_code": old[0]}).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, mfaToken(e, "ada", false), map[string]any{"recovery_code": fresh.RecoveryCodes[0]}).Expect(200)

		disable := func(body map[string]any) *apitest.Response {
			return e.As(tk.AccessToken, "DELETE", "/v1/me/mfa/totp", body)
		}
		disable(map[string]any{"password": "wrong-Password-1", "code": code()}).ExpectProblem(401, "invalid_credentials")
		disable(map[string]any{"password": apitest.StrongPassword, "code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		disable(map[string]any{"password": apitest.StrongPassword, "recovery_code": fresh.RecoveryCodes[1]}).Expect(http.StatusNoContent)
		disable(map[string]any{"password": apitest.StrongPassword, "code": code()}).ExpectProblem(409, "mfa_not_enabled")

		// A password is a whole login again.
		plain := e.Login("ada", apitest.StrongPassword)
		if plain.AccessToken == "" {
			t.Fatal("no tokens after TOTP was turned off")
		}
		me := e.As(plain.AccessToken, "GET", "/v1/me", nil).Expect(200).JSON()["user"].(map[string]any)
		if mfa := me["mfa"].(map[string]any); mfa["totp"] != false || mfa["recovery_codes_left"] != float64(0) {
			t.Errorf("mfa %v after turning TOTP off", mfa)
		}
	})
}

func TestAdminResetsMFA(t *testing.T) {
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		tk, _, _ := mfaUser(e, "ada")
		id := tk.User["id"].(string)
		pending := mfaToken(e, "ada", false)
		admin := e.AdminLogin()
		helper := e.SignupLogin("helper")
		e.As(helper.AccessToken, "DELETE", "/v1/users/"+id+"/mfa", nil).ExpectProblem(403, "forbidden")
		e.As(admin.AccessToken, "DELETE", "/v1/users/0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f/mfa", nil).ExpectProblem(404, "user_not_found")
		e.As(admin.AccessToken, "DELETE", "/v1/users/"+id+"/mfa", nil).Expect(http.StatusNoContent)

		e.As(tk.AccessToken, "GET", "/v1/me", nil).ExpectProblem(401, "session_revoked")
		secondStep(e, pending, map[string]any{"code": "000000"}).ExpectProblem(401, "invalid_mfa_token")
		if e.Login("ada", apitest.StrongPassword).AccessToken == "" {
			t.Fatal("no tokens after the factors were reset")
		}
		events := auditEvents(t, e, admin.AccessToken, "type=mfa_disabled&user_id="+id)
		if len(events) != 1 || events[0]["actor_id"] != admin.User["id"] {
			t.Errorf("mfa_disabled events %v; want one by the admin", events)
		}
	})
}

// No secret, code or token of the second factor shows in logs, audit details
// or any response but the one that hands it out.
func TestMFASecretsStayPrivate(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		var logs apitest.LogBuffer
		e := apitest.New(t, dialect, nil, apitest.LogTo(&logs))
		tk, secret, codes := mfaUser(e, "ada")
		tok := mfaToken(e, "ada", false)
		code := totpAt(t, secret, e.Clock.Now())
		secondStep(e, tok, map[string]any{"code": "000000"}).ExpectProblem(401, "invalid_mfa_code")
		secondStep(e, tok, map[string]any{"code": code}).Expect(200)
		secondStep(e, mfaToken(e, "ada", false), map[string]any{"recovery_code": codes[0]}).Expect(200)

		admin := e.AdminLogin()
		audit := e.As(admin.AccessToken, "GET", "/v1/audit?limit=200", nil).Expect(200).Body
		me := e.As(tk.AccessToken, "GET", "/v1/me", nil).Expect(200).Body
		for _, s := range append([]string{secret, tok, code}, codes...) {
			for where, text := range map[string]string{"logs": logs.String(), "audit": string(audit), "/v1/me": string(me)} {
				if strings.Contains(text, s) {
					t.Errorf("%s holds the secret %q", where, s)
				}
			}
		}
		// Stored: the secret sealed, the codes and the token as MACs.
		db := dbOf(t, e)
		var sealed []byte
		testdb.Must(t, db.QueryRow(rebindQ(e, "SELECT totp_secret_sealed FROM users WHERE username_key = ?"), "ada").Scan(&sealed))
		if len(sealed) == 0 || bytes.Contains(sealed, []byte(secret)) {
			t.Errorf("totp_secret_sealed %x holds the secret in the clear", sealed)
		}
	})
}
