package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// smtpTimeout bounds dialling and each SMTP exchange, so a hung server fails
// the attempt (to be retried) instead of holding the worker.
const smtpTimeout = 10 * time.Second

// SMTPSender sends through an SMTP server. It is safe for concurrent use: each
// Send opens its own connection.
type SMTPSender struct {
	client   *gomail.Client
	from     string
	password string // kept only to scrub it from errors
}

// NewSMTPSender configures delivery through smtpURL:
//
//	smtp://[user:pass@]host[:port]   port 587 by default; STARTTLS when the server offers it
//	smtp://…?starttls=required       the same, but a server that does not offer STARTTLS
//	                                 (or a STARTTLS stripped on the way) fails the send
//	smtps://[user:pass@]host[:port]  port 465 by default; TLS from the first byte
//
// starttls=opportunistic, the default, may be written out. A send that fails
// for want of STARTTLS is retried like any other failed send.
//
// With credentials it authenticates with AUTH PLAIN, which go-mail refuses to
// send over an unencrypted connection except to localhost. Special characters in
// the password must be percent-encoded. Errors never contain the password.
func NewSMTPSender(smtpURL, from string) (*SMTPSender, error) {
	return newSMTPSender(smtpURL, from, nil)
}

// newSMTPSender lets tests trust their own certificate through tlsConf.
func newSMTPSender(smtpURL, from string, tlsConf *tls.Config) (*SMTPSender, error) {
	u, err := url.Parse(smtpURL)
	if err != nil {
		// Not url.Parse's message: it quotes the part it choked on, which may be the password.
		return nil, errors.New("SMTP URL: cannot parse (percent-encode / ? # @ : % in the password)")
	}
	port, implicitTLS := 587, false
	switch u.Scheme {
	case "smtp":
	case "smtps":
		port, implicitTLS = 465, true
	default:
		return nil, fmt.Errorf("SMTP URL: unsupported scheme %q (use smtp:// or smtps://)", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("SMTP URL: needs a host, e.g. smtp://user:pass@mail.example.com:587")
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("SMTP URL: invalid port %q", p)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("SMTP URL: takes no path, e.g. smtp://user:pass@mail.example.com:587")
	}
	tlsPolicy, err := startTLSPolicy(u.RawQuery, implicitTLS)
	if err != nil {
		return nil, err
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail from address %q: %v", from, err)
	}

	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsConf = tlsConf.Clone()
	tlsConf.ServerName = host
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(smtpTimeout),
		gomail.WithTLSConfig(tlsConf),
	}
	if implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(tlsPolicy))
	}
	var password string
	if u.User != nil {
		user := u.User.Username()
		pw, hasPassword := u.User.Password()
		if user == "" || !hasPassword {
			return nil, errors.New("SMTP URL: credentials need both a user and a password (smtp://user:pass@host)")
		}
		password = pw
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(user), gomail.WithPassword(pw))
	}
	client, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", scrubPassword(err, password))
	}
	return &SMTPSender{client: client, from: from, password: password}, nil
}

// startTLSPolicy reads the one query parameter an SMTP URL takes, starttls.
func startTLSPolicy(rawQuery string, implicitTLS bool) (gomail.TLSPolicy, error) {
	const usage = "SMTP URL: the only query parameter is starttls=required or starttls=opportunistic (the default), on smtp://"
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, errors.New(usage)
	}
	v, ok := q["starttls"]
	if len(q) == 0 {
		return gomail.TLSOpportunistic, nil
	}
	if len(q) != 1 || !ok || len(v) != 1 || implicitTLS {
		return 0, errors.New(usage)
	}
	switch v[0] {
	case "opportunistic":
		return gomail.TLSOpportunistic, nil
	case "required":
		return gomail.TLSMandatory, nil
	}
	return 0, fmt.Errorf("SMTP URL: starttls=%q: use required or opportunistic", v[0])
}

// Send delivers m in one SMTP session.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	// Tell auto-responders (vacation replies) not to answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return scrubPassword(err, s.password)
	}
	return nil
}

// scrubPassword masks the password should a server or library ever echo it.
func scrubPassword(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "***"))
}

// LogSender is for development without an SMTP server: it logs each mail
// instead of sending it. It deliberately logs the text body, because that is
// where the reset link is, and so it logs live reset tokens: the one exception
// to authsvc never logging a token. Never use it in production.
type LogSender struct {
	Log *slog.Logger
}

func (s LogSender) Send(ctx context.Context, m Message) error {
	if s.Log == nil {
		return errors.New("LogSender has no logger")
	}
	s.Log.InfoContext(ctx, "mail not sent: logged instead (development mail sender)",
		slog.Bool("sent", false), slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}
