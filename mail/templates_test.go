package mail_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/mail"
)

func embeddedTemplates(t *testing.T) *mail.Templates {
	t.Helper()
	tm, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatalf("embedded templates: %v", err)
	}
	return tm
}

// writeFiles puts files (name: content) in a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var allNotices = []mail.Notice{
	mail.NoticeTOTPEnabled, mail.NoticeTOTPDisabled, mail.NoticeRecoveryCodes, mail.NoticePasskeyAdded,
	mail.NoticePasskeyRemoved, mail.NoticeIdentityLinked, mail.NoticeIdentityUnlinked, mail.NoticePasswordChanged,
	mail.NoticePasswordReset, mail.NoticeFactorsReset, mail.NoticeUnprovenFactorsGone,
}

// Every mail renders from its sample data: a one-line subject, a text and an
// HTML body; and the catalog is the documented one.
func TestEveryMailRendersItsSample(t *testing.T) {
	tm := embeddedTemplates(t)
	names := mail.TemplateNames()
	for _, want := range []string{"reset_password", "verify_email", "email_change", "email_change_notice", "email_code", "invitation"} {
		if !slices.Contains(names, want) {
			t.Errorf("TemplateNames() lacks %s: %v", want, names)
		}
	}
	for _, n := range allNotices {
		if !slices.Contains(names, "notice_"+string(n)) {
			t.Errorf("TemplateNames() lacks notice_%s", n)
		}
	}
	doc, err := os.ReadFile(filepath.Join("templates", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m, err := tm.Sample(name)
			if err != nil {
				t.Fatal(err)
			}
			if m.To == "" || m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || strings.TrimSpace(m.Subject) != m.Subject {
				t.Errorf("To %q, subject %q", m.To, m.Subject)
			}
			if strings.TrimSpace(m.Text) == "" || !strings.Contains(m.HTML, "<html>") {
				t.Errorf("text %q, HTML %q", m.Text, m.HTML)
			}
			if strings.Contains(m.Text+m.HTML, "<no value>") {
				t.Errorf("a template uses a missing value:\n%s\n%s", m.Text, m.HTML)
			}
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("templates/README.md does not document %s", name)
			}
		})
	}
	if _, err := tm.Sample("no_such_mail"); err == nil {
		t.Error("Sample of an unknown mail: no error")
	}
}

// The embedded directory holds the three files of each mail and nothing else.
func TestEmbeddedFilesAreTheCatalog(t *testing.T) {
	var want []string
	for _, name := range mail.TemplateNames() {
		want = append(want, name+".html", name+".subject.txt", name+".txt")
	}
	entries, err := os.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Name() != "README.md" {
			got = append(got, e.Name())
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("mail/templates holds %v;\nwant %v", got, want)
	}
}

func TestLinkMails(t *testing.T) {
	tm := embeddedTemplates(t)
	const to, base, token = "ann@example.com", "https://auth.example.com/", `a+b/c=d&e"<x>'`
	cases := []struct {
		name, path, subject string
		build               func() (mail.Message, error)
	}{
		{"reset", "/reset-password", "Reset your password", func() (mail.Message, error) { return tm.Reset(to, base, token, time.Hour) }},
		{"verify", "/verify-email", "Confirm your email address", func() (mail.Message, error) { return tm.Verify(to, base, token, time.Hour) }},
		{"email change", "/verify-email", "Confirm your new email address", func() (mail.Message, error) { return tm.EmailChange(to, base, token, time.Hour) }},
		{"email code", "/magic-link", "Your sign-in code", func() (mail.Message, error) {
			return tm.EmailCode(to, base, "12345678", token, time.Hour)
		}},
		{"invitation", "/accept-invite", "You are invited to an account", func() (mail.Message, error) {
			return tm.Invitation(to, "ann", base, token, time.Hour)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.build()
			if err != nil {
				t.Fatal(err)
			}
			link := "https://auth.example.com" + c.path + "?token=" + url.QueryEscape(token)
			if m.To != to || m.Subject != c.subject {
				t.Errorf("To, Subject = %q, %q", m.To, m.Subject)
			}
			if !strings.Contains(m.Text, link) || !strings.Contains(m.Text, " 1 hour ") {
				t.Errorf("text lacks %q or the expiry:\n%s", link, m.Text)
			}
			htmlLink := strings.ReplaceAll(link, "&", "&amp;")
			if !strings.Contains(m.HTML, `href="`+htmlLink+`"`) {
				t.Errorf("HTML lacks href %q:\n%s", htmlLink, m.HTML)
			}
			if strings.Contains(m.Text+m.HTML, token) || strings.Contains(m.HTML, "<x>") {
				t.Errorf("the raw token shows:\n%s\n%s", m.Text, m.HTML)
			}
		})
	}

	m, err := tm.EmailCode(to, base, "87654321", "tok", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "87654321") || !strings.Contains(m.HTML, "87654321") || !strings.Contains(m.Text, "10 minutes") {
		t.Errorf("the code mail lacks its code or expiry:\n%s\n%s", m.Text, m.HTML)
	}
	m, err = tm.Invitation(to, "ann_lee", base, "tok", 168*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "ann_lee") || !strings.Contains(m.HTML, "ann_lee") || !strings.Contains(m.Text, "7 days") {
		t.Errorf("the invitation lacks the username or expiry:\n%s\n%s", m.Text, m.HTML)
	}
}

// Notices carry no link or token, in either part.
func TestNoticesHoldNoLink(t *testing.T) {
	tm := embeddedTemplates(t)
	check := func(what string, m mail.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if m.To != "ann@example.com" || m.Subject == "" || m.HTML == "" {
			t.Errorf("%s: %+v", what, m)
		}
		if body := m.Text + m.HTML; strings.Contains(body, "http") || strings.Contains(body, "token") || strings.Contains(body, "href") {
			t.Errorf("%s carries a link:\n%s\n%s", what, m.Text, m.HTML)
		}
	}
	m, err := tm.EmailChangeNotice("ann@example.com")
	check("email change notice", m, err)
	subjects := map[string]mail.Notice{}
	for _, n := range allNotices {
		m, err := tm.SecurityNotice("ann@example.com", n)
		check(string(n), m, err)
		if other, twice := subjects[m.Subject]; twice {
			t.Errorf("notices %s and %s share the subject %q", n, other, m.Subject)
		}
		subjects[m.Subject] = n
	}
	if _, err := tm.SecurityNotice("ann@example.com", mail.Notice("no_such_notice")); err == nil {
		t.Error("an unknown notice: no error")
	}
}

// Values are escaped in HTML, wherever a template puts them.
func TestHTMLEscapesValues(t *testing.T) {
	const hostile = `<script>alert(1)</script>`
	dir := writeFiles(t, map[string]string{
		"invitation.html":          `<p>{{.To}} {{.Username}}</p><a href="{{.Link}}">go</a>`,
		"email_change_notice.html": `<p title="{{.To}}">{{.To}}</p>`,
	})
	tm, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tm.Invitation(`"`+hostile+`"@example.com`, hostile, `javascript:alert(1)//`, "tok", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "javascript:") {
		t.Errorf("HTML holds markup or a script URL from values:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML lacks the escaped value:\n%s", m.HTML)
	}
	m, err = tm.EmailChangeNotice(hostile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("HTML holds markup from the address:\n%s", m.HTML)
	}
	// The embedded HTML too.
	m, err = embeddedTemplates(t).Invitation("ann@example.com", hostile, "https://x.example", "tok", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("embedded invitation HTML:\n%s", m.HTML)
	}
}

func TestReplacementTemplates(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"reset_password.subject.txt":      "  Example Corp: reset your password\n\n",
		"reset_password.txt":              "Reset here: {{.Link}} ({{.Expiry}})\n",
		"notice_passkey_added.html":       " \n",      // blank: text only
		"README.md":                       "notes",    // documentation is skipped
		".hidden":                         "anything", // so are hidden files
		"invitation.subject.txt":          "Welcome, {{.Username}}",
		"email_code.subject.txt":          "Your code: {{.Code}}",
		"email_change_notice.subject.txt": "Heads up",
	})
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil { // as in a Kubernetes ConfigMap volume
		t.Fatal(err)
	}
	tm, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tm.Reset("ann@example.com", "https://auth.example.com", "tok", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Example Corp: reset your password" || m.Text != "Reset here: https://auth.example.com/reset-password?token=tok (1 hour)\n" {
		t.Errorf("replaced reset mail: %q, %q", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, `href="https://auth.example.com/reset-password?token=tok"`) {
		t.Errorf("the HTML part not replaced is the embedded one:\n%s", m.HTML)
	}
	if m, _ := tm.SecurityNotice("ann@example.com", mail.NoticePasskeyAdded); m.HTML != "" || m.Text == "" {
		t.Errorf("a blank HTML template: want a text-only mail, got %+v", m)
	}
	if m, _ := tm.Invitation("ann@example.com", "ann", "https://x.example", "tok", time.Hour); m.Subject != "Welcome, ann" {
		t.Errorf("invitation subject %q", m.Subject)
	}
	if m, _ := tm.EmailCode("ann@example.com", "https://x.example", "12345678", "tok", time.Hour); m.Subject != "Your code: 12345678" {
		t.Errorf("code subject %q", m.Subject)
	}
	if m, _ := tm.EmailChangeNotice("ann@example.com"); m.Subject != "Heads up" {
		t.Errorf("notice subject %q", m.Subject)
	}
	// Other mails keep the embedded wording.
	if m, _ := tm.Verify("ann@example.com", "https://x.example", "tok", time.Hour); m.Subject != "Confirm your email address" {
		t.Errorf("verify subject %q", m.Subject)
	}
}

// A template that cannot be used stops loading, and the error names its file.
func TestBadTemplatesFailToLoad(t *testing.T) {
	cases := []struct {
		name, file, content, want string
	}{
		{"syntax error in text", "verify_email.txt", "Confirm: {{.Link}\n", "verify_email.txt"},
		{"syntax error in HTML", "reset_password.html", "<p>{{if .Link}}</p>", "reset_password.html"},
		{"syntax error in a subject", "notice_totp_enabled.subject.txt", "{{", "notice_totp_enabled.subject.txt"},
		{"unknown field", "reset_password.txt", "Open {{.Tokn}}\n", "Tokn"},
		{"a field another mail has", "reset_password.html", "<p>{{.Code}}</p>", "Code"},
		{"unknown field in a subject", "invitation.subject.txt", "Hi {{.Name}}", "Name"},
		{"unknown function", "email_code.txt", "{{upper .Code}}\n", "upper"},
		{"HTML that ends inside a tag", "email_change.html", `<a href="{{.Link}}`, "email_change.html"},
		{"a two-line subject", "email_code.subject.txt", "Your code\nis {{.Code}}", "more than one line"},
		{"an empty subject", "email_code.subject.txt", "  \n", "subject is empty"},
		{"an empty text body", "invitation.txt", "\n", "text body is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{c.file: c.content})
			tm, err := mail.LoadTemplates(dir)
			if err == nil {
				t.Fatalf("loaded %s = %q; want an error", c.file, c.content)
			}
			if tm != nil {
				t.Error("templates returned with the error")
			}
			path := filepath.Join(dir, c.file)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q; want it to name %s and say %q", err, path, c.want)
			}
		})
	}
}

// A file for no mail is an error naming it: a misspelt name is not ignored.
func TestUnknownFileFailsToLoad(t *testing.T) {
	for _, name := range []string{"reset_pasword.txt", "reset_password.htm", "reset_password.subject.html", "notice_unknown.txt", "notes.txt"} {
		dir := writeFiles(t, map[string]string{name: "x"})
		_, err := mail.LoadTemplates(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, name)) {
			t.Errorf("%s: error %v; want one naming the file", name, err)
		}
	}
}

func TestMissingDirFailsToLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	if _, err := mail.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v; want one naming %s", err, dir)
	}
	if _, err := mail.LoadTemplates(writeFiles(t, nil)); err != nil {
		t.Errorf("an empty directory: %v", err)
	}
}

// A subject that a value would break onto two lines is refused at render.
func TestSubjectStaysOneLine(t *testing.T) {
	dir := writeFiles(t, map[string]string{"invitation.subject.txt": "Welcome {{.Username}}"})
	tm, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tm.Invitation("ann@example.com", "ann\r\nBcc: eve@example.com", "https://x.example", "tok", time.Hour); err == nil ||
		!strings.Contains(err.Error(), "invitation.subject.txt") {
		t.Errorf("a subject with a newline: error %v", err)
	}
}
