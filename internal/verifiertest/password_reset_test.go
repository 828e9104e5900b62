package verifiertest

import (
	"context"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/verifier"
)

// verifierFor points a verifier at e served over real HTTP, with e's clock. The
// background poller runs every poll; tests call Refresh to poll at once.
func verifierFor(t *testing.T, e *apitest.Env, poll time.Duration) *verifier.Verifier {
	t.Helper()
	srv := httptest.NewServer(e.App.Server)
	t.Cleanup(srv.Close)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: issuer, Audience: "authsvc",
		JWKSURL: srv.URL + "/.well-known/jwks.json", FeedURL: srv.URL + "/v1/auth/revocations",
		ClientID: "gateway", ClientSecret: apitest.GatewaySecret,
		PollInterval: poll, HTTPClient: srv.Client(), Now: e.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

var resetToken = regexp.MustCompile(`/reset-password\?token=(\S+)`)

// mailedResetToken asks for a reset link for email and reads the token out of
// the mail the outbox worker delivers to the test SMTP server.
func mailedResetToken(t *testing.T, e *apitest.Env, srv *smtptest.Server, email string) string {
	t.Helper()
	e.Request("POST", "/v1/auth/password/forgot", map[string]any{"email": email}).Expect(202)
	e.App.Accounts.Wait() // the reset token is made after the answer
	if sent, err := e.App.Mail.RunOnce(context.Background()); err != nil || sent != 1 {
		t.Fatalf("mail worker sent %d, %v; want 1 mail", sent, err)
	}
	got := srv.Received()
	i := slices.IndexFunc(got, func(m smtptest.Mail) bool { return slices.Contains(m.To, email) })
	if i < 0 {
		t.Fatalf("no mail to %s among %d", email, len(got))
	}
	found := resetToken.FindStringSubmatch(smtptest.Parse(t, got[i].Data).Parts["text/plain"])
	if found == nil {
		t.Fatalf("no reset link in the mail to %s", email)
	}
	tok, err := url.QueryUnescape(found[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestPasswordResetReachesTheVerifier: a password reset through the mailed
// link ends every session of the user, and the verifier refuses their tokens
// after its next poll; another user's token, and the session the user opens
// with the new password, are still accepted.
func TestPasswordResetReachesTheVerifier(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Config{})
	e := apitest.New(t, "sqlite", apitest.Vars{
		"INTROSPECTION_RATE_LIMIT": "0",
		"SMTP_URL":                 mail.URL("", ""),
		"MAIL_FROM":                "authsvc <noreply@example.com>",
	})
	v := verifierFor(t, e, time.Hour) // no background poll: only Refresh applies the feed
	ctx := context.Background()

	bystander := e.SignupLogin("bystander")
	first := e.SignupLogin("rita")
	second := e.Login("rita", apitest.StrongPassword)
	for _, tok := range []string{first.AccessToken, second.AccessToken, bystander.AccessToken} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("before the reset: %v", err)
		}
	}

	tok := mailedResetToken(t, e, mail, "rita@example.com")
	const newPassword = "copper-Lantern-orchard-62!"
	e.Request("POST", "/v1/auth/password/reset", map[string]any{"token": tok, "new_password": newPassword}).Expect(200)

	// Until the verifier polls, it cannot know; after one poll it does.
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"first": first.AccessToken, "second": second.AccessToken} {
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("the %s session's token is accepted after the reset", name)
		} else {
			expectErr(t, err, verifier.ErrRevoked)
		}
	}
	if _, err := v.Verify(ctx, bystander.AccessToken); err != nil {
		t.Errorf("another user's token after the reset: %v", err)
	}
	after := e.Login("rita", newPassword)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, after.AccessToken); err != nil {
		t.Errorf("the session opened with the new password: %v", err)
	}
}
