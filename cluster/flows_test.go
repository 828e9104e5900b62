package cluster

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/internal/webauthntest"
)

// The flows below move each step of one client to the next instance, A, B, C
// round-robin: whatever a step leaves behind (a TOTP secret and its last used
// step, an mfa_token, a recovery code, a mailed token, a WebAuthn challenge)
// must be where the next instance finds it.

// totpCode is the authenticator's code for the time step of at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// amrOf reads the amr claim of an access token.
func amrOf(t *testing.T, tok string) []string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.AMR
}

// meUser is GET /v1/me's user on instance i, which must answer 200.
func (c *cluster) meUser(t *testing.T, i int, ip, access string) map[string]any {
	t.Helper()
	r := c.must(t, c.node(i), ip, "GET", "/v1/me", access, nil)
	u, _ := r.body["user"].(map[string]any)
	if r.status != http.StatusOK || u == nil {
		t.Fatalf("GET /v1/me on %s: %v", c.node(i).name, r)
	}
	return u
}

// totpAcrossInstances: TOTP turned on in two steps on two instances, then a
// two-step login whose steps land on different instances; a code and a
// recovery code are accepted once, whichever instance sees them again.
//
// The instances run on real time. A code is accepted once per 30 s step,
// within one step of skew: after the confirmation (the current step) the
// login uses the next step's code, so nothing waits for the clock.
func totpAcrossInstances(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.verifiedUser(t, 0, mail) // A
	tk := c.login(t, 0, u)

	r := c.must(t, c.node(1), u.ip, "POST", "/v1/me/mfa/totp", tk.access, map[string]any{"password": userPassword}) // B
	secret := r.str("secret")
	if r.status != http.StatusCreated || secret == "" || !strings.HasPrefix(r.str("otpauth_url"), "otpauth://totp/") {
		t.Fatalf("POST /v1/me/mfa/totp on B: %v", r)
	}
	start := time.Now()
	r = c.must(t, c.node(2), u.ip, "POST", "/v1/me/mfa/totp/confirm", tk.access, map[string]any{"code": totpCode(t, secret, time.Now())}) // C
	recovery, _ := r.body["recovery_codes"].([]any)
	if r.status != http.StatusOK || len(recovery) != 10 {
		t.Fatalf("confirm on C with the secret B made: %v; want 200 and 10 recovery codes", r)
	}
	if mfa, _ := c.meUser(t, 0, u.ip, tk.access)["mfa"].(map[string]any); mfa["totp"] != true || mfa["recovery_codes_left"] != 10.0 {
		t.Errorf("GET /v1/me on A after the confirmation on C: mfa %v; want totp on, 10 recovery codes", mfa)
	}

	// passwordStep logs in on instance i, from an address of its own (the
	// second step counts against the address's login limit too).
	passwordStep := func(i int) (mfaToken, ip string) {
		t.Helper()
		ip = c.ip()
		r := c.must(t, c.node(i), ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword})
		if r.status != http.StatusOK || r.body["mfa_required"] != true || r.str("mfa_token") == "" || r.str("access_token") != "" {
			t.Fatalf("password step on %s for a user with TOTP on: %v; want mfa_required and an mfa_token, no tokens", c.node(i).name, r)
		}
		return r.str("mfa_token"), ip
	}
	secondStep := func(i int, ip, mfaToken string, factor map[string]any) res {
		t.Helper()
		body := map[string]any{"mfa_token": mfaToken}
		for k, v := range factor {
			body[k] = v
		}
		return c.must(t, c.node(i), ip, "POST", "/v1/auth/mfa", "", body)
	}

	// Password on A, code on B: the next step's code, accepted once.
	code := totpCode(t, secret, time.Now().Add(30*time.Second))
	first, ip := passwordStep(0)
	r = secondStep(1, ip, first, map[string]any{"code": code})
	signedIn := tokensOf(t, r)
	if got := amrOf(t, signedIn.access); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr after password on A and code on B: %v; want [pwd otp mfa]", got)
	}
	c.meUser(t, 2, ip, signedIn.access) // and C takes the token
	// The used mfa_token, on the third instance: refused.
	if r := secondStep(2, ip, first, map[string]any{"code": totpCode(t, secret, time.Now())}); r.status != http.StatusUnauthorized || r.code() != "invalid_mfa_token" {
		t.Errorf("the mfa_token used on B, again on C: %v; want 401 invalid_mfa_token", r)
	}

	// The same code again: password on C, code on A. A replay, refused.
	second, ip := passwordStep(2)
	if r := secondStep(0, ip, second, map[string]any{"code": code}); r.status != http.StatusUnauthorized || r.code() != "invalid_mfa_code" {
		t.Errorf("the code accepted on B, replayed on A: %v; want 401 invalid_mfa_code", r)
	}
	// A recovery code on B, with the mfa_token C issued and A counted a wrong code
	// against: accepted once.
	rc, _ := recovery[0].(string)
	r = secondStep(1, ip, second, map[string]any{"recovery_code": rc})
	if got := amrOf(t, tokensOf(t, r).access); !slices.Equal(got, []string{"pwd", "mfa"}) {
		t.Errorf("amr after a recovery code: %v; want [pwd mfa]", got)
	}
	// The same recovery code again: password on C, recovery code on A. Refused.
	third, ip := passwordStep(2)
	if r := secondStep(0, ip, third, map[string]any{"recovery_code": rc}); r.status != http.StatusUnauthorized || r.code() != "invalid_mfa_code" {
		t.Errorf("the recovery code used on B, again on A: %v; want 401 invalid_mfa_code", r)
	}
	if mfa, _ := c.meUser(t, 1, u.ip, signedIn.access)["mfa"].(map[string]any); mfa["recovery_codes_left"] != 9.0 {
		t.Errorf("GET /v1/me on B: mfa %v; want 9 recovery codes left", mfa)
	}
	if d := time.Since(start); d > 25*time.Second {
		// Past a step and its skew the codes above are wrong rather than replayed:
		// the answers would be the same, the check weaker.
		t.Logf("the TOTP flow took %v: longer than a step, the replay check may have met an expired code instead", d)
	}
}

// mailTo waits up to 20 s for a mail to `to` whose text carries a link to
// PUBLIC_URL + path, and returns the link's token. Any instance's outbox
// worker may send it.
func mailTo(t *testing.T, srv *smtptest.Server, to, path string) string {
	t.Helper()
	link := regexp.MustCompile(`http://authsvc\.cluster\.test` + regexp.QuoteMeta(path) + `\?token=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := srv.Received()
		for i := len(got) - 1; i >= 0; i-- {
			if !slices.Contains(got[i].To, to) {
				continue
			}
			if m := link.FindStringSubmatch(smtptest.Parse(t, got[i].Data).Parts["text/plain"]); m != nil {
				tok, err := url.QueryUnescape(m[1])
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s with a %s link within 20 s (%d mails received in all)", to, path, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verifiedUser signs up a user on instance i and confirms the address with
// the mailed link: factors are added only to a proven mailbox.
func (c *cluster) verifiedUser(t *testing.T, i int, mail *smtptest.Server) user {
	t.Helper()
	u := c.newUser(t, i)
	tok := mailTo(t, mail, u.email, "/verify-email")
	if r := c.must(t, c.node(i), "", "POST", "/v1/auth/email/verify", "", map[string]any{"token": tok}); r.status != http.StatusOK {
		t.Fatalf("verifying %s on %s: %v", u.email, c.node(i).name, r)
	}
	return u
}

// mailedTokens: the verification link mailed at a signup on A, used on B,
// shows on C (which had the unverified profile before); a reset link asked
// for on A, used on B, changes the password for C and A.
func mailedTokens(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.newUser(t, 0) // A: signup mails the link
	tk := c.login(t, 2, u)
	if v := c.meUser(t, 2, u.ip, tk.access); v["email_verified"] != false {
		t.Fatalf("GET /v1/me on C right after the signup: email_verified %v; want false", v["email_verified"])
	}
	tok := mailTo(t, mail, u.email, "/verify-email")
	r := c.must(t, c.node(1), "", "POST", "/v1/auth/email/verify", "", map[string]any{"token": tok}) // B
	if r.status != http.StatusOK {
		t.Fatalf("the verification token of a signup on A, used on B: %v; want 200", r)
	}
	for _, i := range []int{2, 0} {
		if v := c.meUser(t, i, u.ip, tk.access); v["email_verified"] != true || v["email_verified_at"] == nil {
			t.Errorf("GET /v1/me on %s after the verification on B: email_verified %v at %v; want true", c.node(i).name, v["email_verified"], v["email_verified_at"])
		}
	}
	if r := c.must(t, c.node(2), "", "POST", "/v1/auth/email/verify", "", map[string]any{"token": tok}); r.status != http.StatusBadRequest || r.code() != "invalid_token" {
		t.Errorf("the verification token used on B, again on C: %v; want 400 invalid_token", r)
	}

	// Password reset: asked on A, used on B; the old session and password are
	// refused on C, the new password works on A; the token works once.
	const newPassword = "Reset-pass-for-cluster-73!amber"
	if r := c.must(t, c.node(0), c.ip(), "POST", "/v1/auth/password/forgot", "", map[string]any{"email": u.email}); r.status != http.StatusAccepted {
		t.Fatalf("forgot on A: %v", r)
	}
	reset := mailTo(t, mail, u.email, "/reset-password")
	if r := c.must(t, c.node(1), c.ip(), "POST", "/v1/auth/password/reset", "", map[string]any{"token": reset, "new_password": newPassword}); r.status != http.StatusOK {
		t.Fatalf("the reset token mailed for A, used on B: %v; want 200", r)
	}
	if r := c.must(t, c.node(2), u.ip, "GET", "/v1/me", tk.access, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a session from before the reset on B, on C: %v; want 401", r)
	}
	if r := c.must(t, c.node(2), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": userPassword}); r.status != http.StatusUnauthorized {
		t.Errorf("the old password on C after the reset on B: %v; want 401", r)
	}
	tokensOf(t, c.must(t, c.node(0), u.ip, "POST", "/v1/auth/login", "", map[string]any{"login": u.email, "password": newPassword}))
	if r := c.must(t, c.node(2), c.ip(), "POST", "/v1/auth/password/reset", "", map[string]any{"token": reset, "new_password": newPassword + "x"}); r.status != http.StatusBadRequest || r.code() != "invalid_token" {
		t.Errorf("the reset token used on B, again on C: %v; want 400 invalid_token", r)
	}
}

// The relying party of the cluster's PUBLIC_URL, http://authsvc.cluster.test.
var clusterRP = virtualwebauthn.RelyingParty{ID: "authsvc.cluster.test", Name: "authsvc", Origin: "http://authsvc.cluster.test"}

// ceremony is a WebAuthn challenge as the service hands it out.
type ceremony struct {
	ChallengeID string          `json:"challenge_id"`
	PublicKey   json.RawMessage `json:"public_key"`
}

func ceremonyOf(t *testing.T, what string, r res) ceremony {
	t.Helper()
	pk, err := json.Marshal(r.body["public_key"])
	if r.status != http.StatusOK || r.str("challenge_id") == "" || err != nil {
		t.Fatalf("%s: %v", what, r)
	}
	return ceremony{ChallengeID: r.str("challenge_id"), PublicKey: pk}
}

// passkeysAcrossInstances: a passkey registered with options from A and
// finished on B; a login with options from C finished on A. A challenge used
// on one instance is refused on another.
func passkeysAcrossInstances(t *testing.T, c *cluster, mail *smtptest.Server) {
	u := c.verifiedUser(t, 2, mail)
	tk := c.login(t, 2, u)
	id, err := uuid.Parse(u.id)
	if err != nil {
		t.Fatalf("user id %q: %v", u.id, err)
	}
	auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: id[:]})
	cred := webauthntest.NewCredential()

	regOptions := func(i int) ceremony {
		t.Helper()
		return ceremonyOf(t, "register options on "+c.node(i).name,
			c.must(t, c.node(i), u.ip, "POST", "/v1/me/passkeys/register/options", tk.access, map[string]any{"password": userPassword}))
	}
	attest := func(ch ceremony, cr virtualwebauthn.Credential) json.RawMessage {
		t.Helper()
		opts, err := virtualwebauthn.ParseAttestationOptions(string(ch.PublicKey))
		if err != nil {
			t.Fatalf("registration options: %v\n%s", err, ch.PublicKey)
		}
		return json.RawMessage(virtualwebauthn.CreateAttestationResponse(clusterRP, auth, cr, *opts))
	}
	register := func(i int, ch ceremony, credential json.RawMessage) res {
		t.Helper()
		return c.must(t, c.node(i), u.ip, "POST", "/v1/me/passkeys/register", tk.access,
			map[string]any{"challenge_id": ch.ChallengeID, "name": "Cluster key", "credential": credential})
	}
	loginOptions := func(i int) ceremony {
		t.Helper()
		return ceremonyOf(t, "passkey login options on "+c.node(i).name, c.must(t, c.node(i), u.ip, "POST", "/v1/auth/passkey/options", "", nil))
	}
	assert := func(ch ceremony) json.RawMessage {
		t.Helper()
		opts, err := virtualwebauthn.ParseAssertionOptions(string(ch.PublicKey))
		if err != nil {
			t.Fatalf("login options: %v\n%s", err, ch.PublicKey)
		}
		return json.RawMessage(virtualwebauthn.CreateAssertionResponse(clusterRP, auth, cred, *opts))
	}
	login := func(i int, ch ceremony, credential json.RawMessage) res {
		t.Helper()
		return c.must(t, c.node(i), u.ip, "POST", "/v1/auth/passkey/login", "", map[string]any{"challenge_id": ch.ChallengeID, "credential": credential})
	}

	// Options on A, finished on B.
	reg := regOptions(0)
	if r := register(1, reg, attest(reg, cred)); r.status != http.StatusCreated {
		t.Fatalf("register with options from A, finished on B: %v; want 201", r)
	}
	// That challenge again, with another credential, on C: used.
	other := webauthntest.NewCredential()
	if r := register(2, reg, attest(reg, other)); r.status != http.StatusBadRequest || r.code() != "invalid_passkey" {
		t.Errorf("the registration challenge used on B, again on C: %v; want 400 invalid_passkey", r)
	}

	// Login options on C, finished on A.
	ch := loginOptions(2)
	r := login(0, ch, assert(ch))
	session := tokensOf(t, r)
	if got := amrOf(t, session.access); !slices.Equal(got, []string{"hwk", "user"}) {
		t.Errorf("amr after a passkey login with options from C, finished on A: %v; want [hwk user]", got)
	}
	if mfa, _ := c.meUser(t, 1, u.ip, session.access)["mfa"].(map[string]any); mfa["passkeys"] != 1.0 {
		t.Errorf("GET /v1/me on B: mfa %v; want 1 passkey", mfa)
	}
	// That challenge again on B, with a counter that moved on: used.
	cred.Counter++
	if r := login(1, ch, assert(ch)); r.status != http.StatusUnauthorized || r.code() != "invalid_passkey" {
		t.Errorf("the login challenge used on A, again on B: %v; want 401 invalid_passkey", r)
	}
	// A fresh challenge, from B, finished on C: the passkey still works.
	cred.Counter++
	ch = loginOptions(1)
	tokensOf(t, login(2, ch, assert(ch)))
}
