package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/smtptest"
	"github.com/authsvc/authsvc/mail"
)

const (
	testFrom  = "authsvc <noreply@example.com>"
	testToken = "tok-3f9a_b+c/d="
)

func testReset() mail.Message {
	return mail.ResetMessage("ann@example.com", "https://auth.example.com", testToken, time.Hour)
}

// checkResetMail checks one received reset mail: recipient, both parts, the link.
func checkResetMail(t *testing.T, got smtptest.Mail) {
	t.Helper()
	if len(got.To) != 1 || got.To[0] != "ann@example.com" {
		t.Errorf("RCPT TO = %q; want ann@example.com", got.To)
	}
	if got.From != "noreply@example.com" {
		t.Errorf("MAIL FROM = %q", got.From)
	}
	p := smtptest.Parse(t, got.Data)
	if to := p.Header.Get("To"); !strings.Contains(to, "ann@example.com") {
		t.Errorf("To header %q", to)
	}
	link := "https://auth.example.com/reset-password?token=" + url.QueryEscape(testToken)
	text, html := p.Parts["text/plain"], p.Parts["text/html"]
	if !strings.Contains(text, link) {
		t.Errorf("text/plain part lacks %s:\n%s", link, text)
	}
	if !strings.Contains(html, `href="`+link+`"`) {
		t.Errorf("text/html part lacks the link:\n%s", html)
	}
}

func TestSMTPSenderDeliversResetMessage(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Config{})
	s, err := mail.NewSMTPSender(srv.URL("", ""), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testReset()); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d mails; want 1", len(got))
	}
	checkResetMail(t, got[0])
	if got[0].TLS {
		t.Error("TLS on a server that does not offer it?")
	}
}

func TestSMTPSenderAuthPlain(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "s3cr3t p@ss/word"})
	s, err := mail.NewSMTPSender(srv.URL("mailer", "s3cr3t p@ss/word"), testFrom)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testReset()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Received(); len(got) != 1 {
		t.Fatalf("server received %d mails; want 1", len(got))
	}
	if auth := srv.Authenticated(); len(auth) != 1 || auth[0] != "mailer" {
		t.Errorf("authenticated as %q; want mailer once", auth)
	}

	t.Run("wrong password", func(t *testing.T) {
		s, err := mail.NewSMTPSender(srv.URL("mailer", "wrong-Pa55word"), testFrom)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), testReset())
		if err == nil {
			t.Fatal("sent with a wrong password")
		}
		if strings.Contains(err.Error(), "wrong-Pa55word") {
			t.Errorf("error shows the password: %v", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		s, err := mail.NewSMTPSender(srv.URL("", ""), testFrom)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), testReset()); err == nil {
			t.Fatal("sent without authenticating to a server that requires it")
		}
	})
	if got := srv.Received(); len(got) != 1 {
		t.Errorf("server received %d mails; want still 1", len(got))
	}
}

func TestNewSMTPSenderValidates(t *testing.T) {
	const pw = "Hunter2-secret"
	bad := map[string]string{
		"no scheme":        "mail.example.com:587",
		"other scheme":     "http://mail.example.com",
		"no host":          "smtp://:587",
		"bad port":         "smtp://mail.example.com:99999",
		"path":             "smtp://mail.example.com/x",
		"query":            "smtp://mail.example.com?tls=no",
		"starttls value":   "smtp://mail.example.com?starttls=yes",
		"starttls twice":   "smtp://mail.example.com?starttls=required&starttls=required",
		"starttls + other": "smtp://mail.example.com?starttls=required&tls=no",
		"starttls smtps":   "smtps://mail.example.com?starttls=required",
		"bad query":        "smtp://mail.example.com?starttls=%zz",
		"password no user": "smtp://:" + pw + "@mail.example.com",
		"user no password": "smtp://user@mail.example.com",
		"unparsable":       "smtp://user:" + pw + "%zz@mail.example.com",
		"control char":     "smtp://user:" + pw + "\n@mail.example.com",
	}
	for name, u := range bad {
		_, err := mail.NewSMTPSender(u, testFrom)
		if err == nil {
			t.Errorf("%s: %q accepted", name, u)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
	for _, from := range []string{"", "noreply", "a@b@c"} {
		if _, err := mail.NewSMTPSender("smtp://mail.example.com", from); err == nil {
			t.Errorf("from %q accepted", from)
		}
	}
	for _, u := range []string{
		"smtp://mail.example.com", "smtp://mail.example.com:25/", "smtps://u:p@mail.example.com",
		"smtp://user:p%40ss%2Fw%23rd@[::1]:2525",
		"smtp://mail.example.com?starttls=required", "smtp://u:p@mail.example.com:587/?starttls=opportunistic",
	} {
		if _, err := mail.NewSMTPSender(u, "noreply@example.com"); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}}}
	return server, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func TestSMTPSenderTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	for _, implicit := range []bool{false, true} {
		name := "STARTTLS"
		if implicit {
			name = "smtps"
		}
		t.Run(name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "pw", TLS: serverTLS, ImplicitTLS: implicit})
			s, err := mail.NewSMTPSenderTLS(srv.URL("mailer", "pw"), testFrom, clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), testReset()); err != nil {
				t.Fatal(err)
			}
			got := srv.Received()
			if len(got) != 1 || !got[0].TLS {
				t.Fatalf("received %d mails (TLS: %v); want 1 over TLS", len(got), len(got) == 1 && got[0].TLS)
			}
			checkResetMail(t, got[0])
		})
	}

	t.Run("STARTTLS required", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "pw", TLS: serverTLS})
		s, err := mail.NewSMTPSenderTLS(srv.URL("mailer", "pw")+"?starttls=required", testFrom, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), testReset()); err != nil {
			t.Fatal(err)
		}
		if got := srv.Received(); len(got) != 1 || !got[0].TLS {
			t.Fatalf("received %d mails; want 1 over TLS", len(got))
		}
	})

	t.Run("STARTTLS required, not offered", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Config{}) // as if a man in the middle stripped STARTTLS
		s, err := mail.NewSMTPSenderTLS(srv.URL("", "")+"?starttls=required", testFrom, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), testReset()); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send = %v; want a failure naming STARTTLS", err)
		}
		if got := srv.Received(); len(got) != 0 {
			t.Fatalf("server received %d mails in clear text; want none", len(got))
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		// Opportunistic TLS must not fall back to plain text when the handshake fails.
		srv := smtptest.Start(t, smtptest.Config{TLS: serverTLS})
		s, err := mail.NewSMTPSender(srv.URL("", ""), testFrom)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), testReset()); err == nil {
			t.Fatal("sent despite an untrusted certificate")
		}
		if got := srv.Received(); len(got) != 0 {
			t.Fatalf("server received %d mails; want none", len(got))
		}
	})
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := mail.LogSender{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	if err := s.Send(context.Background(), testReset()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"level":"INFO"`, `"sent":false`, `"to":"ann@example.com"`, url.QueryEscape(testToken)} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if err := (mail.LogSender{}).Send(context.Background(), testReset()); err == nil {
		t.Error("LogSender without a logger reported success")
	}
}
