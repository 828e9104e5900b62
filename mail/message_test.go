package mail_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/mail"
)

func TestResetMessage(t *testing.T) {
	token := `a+b/c=d&e"<x>'`
	m := mail.ResetMessage("ann@example.com", "https://auth.example.com/", token, time.Hour)

	wantLink := "https://auth.example.com/reset-password?token=" + url.QueryEscape(token)
	if m.To != "ann@example.com" || m.Subject == "" {
		t.Errorf("To, Subject = %q, %q", m.To, m.Subject)
	}
	for _, want := range []string{wantLink, "expires 1 hour", "ignore"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.Text, token) {
		t.Errorf("text holds the raw token, not URL-escaped:\n%s", m.Text)
	}

	// In HTML the escaped link appears once more escaped: & becomes &amp;.
	htmlLink := strings.ReplaceAll(wantLink, "&", "&amp;")
	if !strings.Contains(m.HTML, `href="`+htmlLink+`"`) {
		t.Errorf("HTML lacks href %q:\n%s", htmlLink, m.HTML)
	}
	for _, want := range []string{"expires 1 hour", "ignore"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<x>", `"<`, token} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML holds unescaped %q:\n%s", bad, m.HTML)
		}
	}
}

func TestResetMessageEscapesPublicURL(t *testing.T) {
	m := mail.ResetMessage("ann@example.com", `https://x.example/"><script>alert(1)</script>`, "tok", time.Hour)
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("HTML holds markup from the public URL:\n%s", m.HTML)
	}
}

func TestResetMessageExpiry(t *testing.T) {
	for ttl, want := range map[time.Duration]string{
		time.Hour:        "1 hour",
		2 * time.Hour:    "2 hours",
		30 * time.Minute: "30 minutes",
		90 * time.Minute: "90 minutes",
		24 * time.Hour:   "1 day",
		45 * time.Second: "45 seconds",
	} {
		m := mail.ResetMessage("ann@example.com", "https://x.example", "tok", ttl)
		if !strings.Contains(m.Text, "expires "+want+" ") || !strings.Contains(m.HTML, "expires "+want+" ") {
			t.Errorf("ttl %v: want %q in text and HTML:\n%s", ttl, want, m.Text)
		}
	}
}
