package mail_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testSMTP is an in-process SMTP server on 127.0.0.1 that records what it
// receives. It can be stopped and started again on the same port, to play an
// outage.
type testSMTP struct {
	t    *testing.T
	cfg  smtpConfig
	addr string

	mu   sync.Mutex
	srv  *smtp.Server
	lis  net.Listener
	got  []receivedMail
	auth []string // user names that authenticated
}

type smtpConfig struct {
	User, Pass  string      // when set, AUTH PLAIN is required before MAIL
	TLS         *tls.Config // when set, STARTTLS is offered…
	ImplicitTLS bool        // …or, with this, required from the first byte
}

type receivedMail struct {
	From string
	To   []string
	Data []byte
	TLS  bool
}

func startSMTP(t *testing.T, cfg smtpConfig) *testSMTP {
	t.Helper()
	s := &testSMTP{t: t, cfg: cfg, addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start listens on the server's address (a free port the first time).
func (s *testSMTP) start() {
	s.t.Helper()
	var l net.Listener
	var err error
	if s.cfg.ImplicitTLS {
		l, err = tls.Listen("tcp", s.addr, s.cfg.TLS)
	} else {
		l, err = net.Listen("tcp", s.addr)
	}
	if err != nil {
		s.t.Fatalf("smtp listen: %v", err)
	}
	s.addr = l.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // AUTH PLAIN without TLS, as the brief's test server does
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if !s.cfg.ImplicitTLS {
		srv.TLSConfig = s.cfg.TLS
	}
	s.mu.Lock()
	s.srv, s.lis = srv, l
	s.mu.Unlock()
	go srv.Serve(l)
}

// stop closes the listener and every connection. It closes the listener
// itself: Server.Close misses one that Serve has not registered yet.
func (s *testSMTP) stop() {
	s.mu.Lock()
	srv, l := s.srv, s.lis
	s.srv, s.lis = nil, nil
	s.mu.Unlock()
	if srv != nil {
		l.Close()
		srv.Close()
	}
}

// url is the smtp:// (or smtps://) URL of the server, with the given credentials.
func (s *testSMTP) url(user, pass string) string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.cfg.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}

func (s *testSMTP) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.got...)
}

func (s *testSMTP) authenticated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

type smtpSession struct {
	s      *testSMTP
	conn   *smtp.Conn
	authed bool
	mail   receivedMail
}

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.s.cfg.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.cfg.User || pass != ss.s.cfg.Pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.auth = append(ss.s.auth, user)
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.mail = receivedMail{From: from}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.mail.To = append(ss.mail.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.mail.Data = data
	_, ss.mail.TLS = ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, ss.mail)
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.mail = receivedMail{} }
func (ss *smtpSession) Logout() error { return nil }

// parsedMail is a received mail's headers and its decoded text parts by media type.
type parsedMail struct {
	Header netmail.Header
	Parts  map[string]string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, data)
	}
	p := parsedMail{Header: msg.Header, Parts: map[string]string{}}
	collectParts(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, p.Parts)
	return p
}

// collectParts walks a MIME tree; multipart.Reader already undoes
// quoted-printable in parts, the rest is decoded here.
func collectParts(t *testing.T, contentType, encoding string, body io.Reader, into map[string]string) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			collectParts(t, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, into)
		}
	}
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable": // a single-part mail; parts are decoded by multipart.Reader
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read %s part: %v", mediaType, err)
	}
	into[mediaType] = string(b)
}
