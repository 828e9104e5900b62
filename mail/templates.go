package mail

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// embedded holds the built-in templates: per mail NAME, NAME.subject.txt,
// NAME.txt and NAME.html (see templates/README.md).
//
//go:embed templates/*.txt templates/*.html
var embedded embed.FS

// The three parts of a mail, as file name suffixes: the subject (text/template,
// one line), the text body (text/template) and the HTML body (html/template).
const (
	subjectSuffix = ".subject.txt"
	textSuffix    = ".txt"
	htmlSuffix    = ".html"
)

// The data each kind of mail's templates receive. Fields are the variables
// templates may use; a template naming any other fails to load.
type (
	// linkData: reset_password, verify_email, email_change.
	linkData struct{ To, Link, Expiry string }
	// addressData: email_change_notice and the notice_* mails (no link).
	addressData struct{ To string }
	// codeData: email_code.
	codeData struct{ To, Code, Link, Expiry string }
	// invitationData: invitation.
	invitationData struct{ To, Username, Link, Expiry string }
)

// Link paths under PUBLIC_URL.
const (
	resetPath  = "/reset-password"
	verifyPath = "/verify-email"
	magicPath  = "/magic-link"
	invitePath = "/accept-invite"
)

// mailSpec is one mail the service sends and the sample data its templates
// are tried with at load.
type mailSpec struct {
	name   string
	sample any
}

// notices lists every Notice, each with a mail "notice_<kind>".
func notices() []Notice {
	return []Notice{
		NoticeTOTPEnabled, NoticeTOTPDisabled, NoticeRecoveryCodes, NoticePasskeyAdded, NoticePasskeyRemoved,
		NoticeIdentityLinked, NoticeIdentityUnlinked, NoticePasswordChanged, NoticePasswordReset,
		NoticeFactorsReset, NoticeUnprovenFactorsGone,
	}
}

// noticeMail is the name of n's mail.
func noticeMail(n Notice) string { return "notice_" + string(n) }

// sampleTo is the recipient of the sample mails.
const sampleTo = "ann@example.com"

// catalog is every mail, in the order templates/README.md lists them.
func catalog() []mailSpec {
	const to, base, token = sampleTo, "https://auth.example.com", "sample-token"
	link := func(path string) string { return buildLink(base, path, token) }
	specs := []mailSpec{
		{"reset_password", linkData{To: to, Link: link(resetPath), Expiry: "30 minutes"}},
		{"verify_email", linkData{To: to, Link: link(verifyPath), Expiry: "1 day"}},
		{"email_change", linkData{To: to, Link: link(verifyPath), Expiry: "1 day"}},
		{"email_change_notice", addressData{To: to}},
	}
	for _, n := range notices() {
		specs = append(specs, mailSpec{noticeMail(n), addressData{To: to}})
	}
	return append(specs,
		mailSpec{"email_code", codeData{To: to, Code: "12345678", Link: link(magicPath), Expiry: "10 minutes"}},
		mailSpec{"invitation", invitationData{To: to, Username: "ann", Link: link(invitePath), Expiry: "7 days"}},
	)
}

// variables lists the fields of a mail's data, as templates name them.
func variables(data any) string {
	t := reflect.TypeOf(data)
	var out []string
	for i := range t.NumField() {
		out = append(out, "."+t.Field(i).Name)
	}
	return strings.Join(out, ", ")
}

// TemplateNames lists every mail the service sends, by the NAME of its
// template files (NAME.subject.txt, NAME.txt, NAME.html).
func TemplateNames() []string {
	var names []string
	for _, s := range catalog() {
		names = append(names, s.name)
	}
	return names
}

// Templates build every mail from its templates: the embedded ones, each
// replaceable by a file of the same name in MAIL_TEMPLATES_DIR. It is made by
// LoadTemplates and safe for concurrent use.
type Templates struct {
	mails map[string]*mailTemplates
}

// mailTemplates are one mail's three parts, and the files they came from (for errors).
type mailTemplates struct {
	subject, text                   *texttemplate.Template
	html                            *htmltemplate.Template
	subjectFile, textFile, htmlFile string
}

// source is one template file's text and how errors name it.
type source struct{ label, text string }

// LoadTemplates reads every mail's templates: the embedded ones, each
// replaced by the file of the same name in dir when dir is not empty and has
// one. Every template is parsed and then executed once with sample data of its
// mail, so a syntax error or a reference to a variable the mail does not have
// fails here, at start-up, rather than at the first mail. A file in dir that
// is no mail's template is an error too (a misspelt name would otherwise be
// ignored); hidden files, directories and README.md are skipped. Errors name
// the file at fault.
func LoadTemplates(dir string) (*Templates, error) {
	known := map[string]bool{}
	for _, name := range TemplateNames() {
		for _, suffix := range []string{subjectSuffix, textSuffix, htmlSuffix} {
			known[name+suffix] = true
		}
	}
	files := map[string]source{}
	entries, err := fs.ReadDir(embedded, "templates")
	if err != nil {
		return nil, fmt.Errorf("embedded templates: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(embedded, "templates/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("embedded %s: %w", e.Name(), err)
		}
		if !known[e.Name()] {
			return nil, fmt.Errorf("embedded %s: not the template of any mail", e.Name())
		}
		files[e.Name()] = source{label: "embedded " + e.Name(), text: string(b)}
	}
	if dir != "" {
		if err := replaceFrom(dir, known, files); err != nil {
			return nil, err
		}
	}

	t := &Templates{mails: map[string]*mailTemplates{}}
	for _, spec := range catalog() {
		m, err := parseMail(spec.name, files)
		if err != nil {
			return nil, err
		}
		if _, err := m.render(sampleTo, spec.sample); err != nil {
			return nil, fmt.Errorf("%w (%s has %s)", err, spec.name, variables(spec.sample))
		}
		t.mails[spec.name] = m
	}
	return t, nil
}

// replaceFrom puts the templates found in dir in place of the embedded ones.
func replaceFrom(dir string, known map[string]bool, files map[string]source) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, path := e.Name(), filepath.Join(dir, e.Name())
		// Editors' and Kubernetes' (..data) hidden entries, and the documentation.
		if strings.HasPrefix(name, ".") || name == "README.md" {
			continue
		}
		info, err := os.Stat(path) // follows symbolic links (ConfigMap volumes are made of them)
		if err != nil {
			return err
		}
		if info.IsDir() {
			continue
		}
		if !known[name] {
			return fmt.Errorf("%s: not the template of any mail: files are NAME.subject.txt, NAME.txt or NAME.html, NAME one of %s",
				path, strings.Join(TemplateNames(), ", "))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[name] = source{label: path, text: string(b)}
	}
	return nil
}

// parseMail parses the three parts of the mail name.
func parseMail(name string, files map[string]source) (*mailTemplates, error) {
	get := func(suffix string) (source, error) {
		s, ok := files[name+suffix]
		if !ok { // the embedded set lacks it: a build defect the tests catch
			return source{}, fmt.Errorf("embedded %s: missing", name+suffix)
		}
		return s, nil
	}
	subject, err := get(subjectSuffix)
	if err != nil {
		return nil, err
	}
	text, err := get(textSuffix)
	if err != nil {
		return nil, err
	}
	html, err := get(htmlSuffix)
	if err != nil {
		return nil, err
	}
	m := &mailTemplates{subjectFile: subject.label, textFile: text.label, htmlFile: html.label}
	if m.subject, err = texttemplate.New(name + subjectSuffix).Parse(subject.text); err != nil {
		return nil, fmt.Errorf("%s: %w", subject.label, err)
	}
	if m.text, err = texttemplate.New(name + textSuffix).Parse(text.text); err != nil {
		return nil, fmt.Errorf("%s: %w", text.label, err)
	}
	if m.html, err = htmltemplate.New(name + htmlSuffix).Parse(html.text); err != nil {
		return nil, fmt.Errorf("%s: %w", html.label, err)
	}
	return m, nil
}

// render executes the mail's templates with data. The subject is trimmed and
// must be one line; the text body must not be blank; a blank HTML body means
// the mail is sent as text only.
func (m *mailTemplates) render(to string, data any) (Message, error) {
	var subject, text, html strings.Builder
	if err := m.subject.Execute(&subject, data); err != nil {
		return Message{}, fmt.Errorf("%s: %w", m.subjectFile, err)
	}
	if err := m.text.Execute(&text, data); err != nil {
		return Message{}, fmt.Errorf("%s: %w", m.textFile, err)
	}
	if err := m.html.Execute(&html, data); err != nil {
		return Message{}, fmt.Errorf("%s: %w", m.htmlFile, err)
	}
	msg := Message{To: to, Subject: strings.TrimSpace(subject.String()), Text: text.String(), HTML: html.String()}
	switch {
	case msg.Subject == "":
		return Message{}, fmt.Errorf("%s: the subject is empty", m.subjectFile)
	case strings.ContainsAny(msg.Subject, "\r\n"):
		return Message{}, fmt.Errorf("%s: the subject is more than one line", m.subjectFile)
	case strings.TrimSpace(msg.Text) == "":
		return Message{}, fmt.Errorf("%s: the text body is empty", m.textFile)
	}
	if strings.TrimSpace(msg.HTML) == "" {
		msg.HTML = ""
	}
	return msg, nil
}

// build renders the mail name for to with data.
func (t *Templates) build(name, to string, data any) (Message, error) {
	m, ok := t.mails[name]
	if !ok {
		return Message{}, fmt.Errorf("mail: no template %q", name)
	}
	return m.render(to, data)
}

// buildLink is publicURL/path?token=<token>, the token URL-escaped.
func buildLink(publicURL, path, token string) string {
	return strings.TrimRight(publicURL, "/") + path + "?token=" + url.QueryEscape(token)
}

// linkMail renders name, a mail whose link leads to publicURL/path.
func (t *Templates) linkMail(name, path, to, publicURL, token string, ttl time.Duration) (Message, error) {
	return t.build(name, to, linkData{To: to, Link: buildLink(publicURL, path, token), Expiry: humanDuration(ttl)})
}

// Reset is the password-reset mail (reset_password): a link to
// publicURL/reset-password?token=… valid for ttl.
func (t *Templates) Reset(to, publicURL, token string, ttl time.Duration) (Message, error) {
	return t.linkMail("reset_password", resetPath, to, publicURL, token, ttl)
}

// Verify asks the owner of a new account to confirm its address
// (verify_email): a link to publicURL/verify-email?token=….
func (t *Templates) Verify(to, publicURL, token string, ttl time.Duration) (Message, error) {
	return t.linkMail("verify_email", verifyPath, to, publicURL, token, ttl)
}

// EmailChange asks for confirmation of an account's new address, sent to that
// address (email_change): a link to publicURL/verify-email?token=…; the change
// happens only when it is opened.
func (t *Templates) EmailChange(to, publicURL, token string, ttl time.Duration) (Message, error) {
	return t.linkMail("email_change", verifyPath, to, publicURL, token, ttl)
}

// EmailChangeNotice tells the current address that a change away from it was
// asked for (email_change_notice). It holds no link and no token: it goes to
// the address the change may be taking the account from.
func (t *Templates) EmailChangeNotice(to string) (Message, error) {
	return t.build("email_change_notice", to, addressData{To: to})
}

// SecurityNotice tells an account's address that n happened (notice_<n>). It
// holds no link and no token: it only lets the owner notice a change they did
// not make.
func (t *Templates) SecurityNotice(to string, n Notice) (Message, error) {
	if !slices.Contains(notices(), n) {
		return Message{}, fmt.Errorf("mail: unknown notice %q", n)
	}
	return t.build(noticeMail(n), to, addressData{To: to})
}

// EmailCode is the sign-in mail (email_code): the code, and a link to
// publicURL/magic-link?token=… that signs in too, both valid for ttl.
func (t *Templates) EmailCode(to, publicURL, code, token string, ttl time.Duration) (Message, error) {
	return t.build("email_code", to, codeData{
		To: to, Code: code, Link: buildLink(publicURL, magicPath, token), Expiry: humanDuration(ttl),
	})
}

// Invitation invites the user username to choose a password (invitation): a
// link to publicURL/accept-invite?token=… valid for ttl.
func (t *Templates) Invitation(to, username, publicURL, token string, ttl time.Duration) (Message, error) {
	return t.build("invitation", to, invitationData{
		To: to, Username: username, Link: buildLink(publicURL, invitePath, token), Expiry: humanDuration(ttl),
	})
}

// Sample renders the mail name (one of TemplateNames) with the sample data it
// is tried with at load, for previews and tests.
func (t *Templates) Sample(name string) (Message, error) {
	for _, s := range catalog() {
		if s.name == name {
			return t.build(name, sampleTo, s.sample)
		}
	}
	return Message{}, fmt.Errorf("mail: no template %q", name)
}

// DefaultTemplates is the embedded set (LoadTemplates("")). It panics if that
// does not load, a build defect the package's tests rule out.
func DefaultTemplates() *Templates {
	t, err := LoadTemplates("")
	if err != nil {
		panic("mail: embedded templates: " + err.Error())
	}
	return t
}
