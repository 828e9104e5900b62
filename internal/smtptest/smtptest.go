// Package smtptest is an in-process SMTP server for tests. It records what it
// receives, can require AUTH PLAIN and TLS, and can be stopped and started
// again on the same port (or made to hang) to play an outage.
package smtptest

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

// Config says what the server demands of its clients.
type Config struct {
	User, Pass  string      // when set, AUTH PLAIN is required before MAIL
	TLS         *tls.Config // when set, STARTTLS is offered…
	ImplicitTLS bool        // …or, with this, required from the first byte
}

// Mail is one received mail as it came over the wire.
type Mail struct {
	From string
	To   []string
	Data []byte
	TLS  bool
}

// Server is an SMTP server on 127.0.0.1.
type Server struct {
	t    testing.TB
	cfg  Config
	addr string

	mu      sync.Mutex
	srv     *smtp.Server
	lis     net.Listener
	hanging []net.Conn // connections held open without a word while hanging
	got     []Mail
	auth    []string // user names that authenticated
}

// Start runs a server on a free port until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{t: t, cfg: cfg, addr: "127.0.0.1:0"}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Config is what the server was started with.
func (s *Server) Config() Config { return s.cfg }

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// Restart serves SMTP again on the server's address (a free port the first
// time), after Stop or Hang.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
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
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // AUTH PLAIN without TLS, for the tests that need no certificate
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if !s.cfg.ImplicitTLS {
		srv.TLSConfig = s.cfg.TLS
	}
	s.mu.Lock()
	s.srv, s.lis = srv, l
	s.mu.Unlock()
	go srv.Serve(l)
}

// Stop closes the listener and every connection: clients are refused.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, l, hanging := s.srv, s.lis, s.hanging
	s.srv, s.lis, s.hanging = nil, nil, nil
	s.mu.Unlock()
	// Close the listener itself: Server.Close misses one that Serve has not registered yet.
	if l != nil {
		l.Close()
	}
	if srv != nil {
		srv.Close()
	}
	for _, c := range hanging {
		c.Close()
	}
}

// Hang replaces the server by one that accepts connections and never says a
// word, as a wedged mail server does: a client waits until its own timeout.
func (s *Server) Hang() {
	s.t.Helper()
	s.Stop()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("smtp listen: %v", err)
	}
	s.mu.Lock()
	s.lis = l
	s.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.hanging = append(s.hanging, c)
			s.mu.Unlock()
		}
	}()
}

// URL is the smtp:// (or smtps://) URL of the server, with the given credentials.
func (s *Server) URL(user, pass string) string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.cfg.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}

// Received returns the mails received so far.
func (s *Server) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.got...)
}

// Authenticated returns the user names that authenticated, once per session.
func (s *Server) Authenticated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	mail   Mail
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
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

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.mail = Mail{From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.mail.To = append(ss.mail.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
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

func (ss *session) Reset()        { ss.mail = Mail{} }
func (ss *session) Logout() error { return nil }

// Parsed is a received mail's headers and its decoded text parts by media type.
type Parsed struct {
	Header netmail.Header
	Parts  map[string]string
}

// Parse decodes a received mail, failing the test if it is malformed.
func Parse(t testing.TB, data []byte) Parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, data)
	}
	p := Parsed{Header: msg.Header, Parts: map[string]string{}}
	collectParts(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, p.Parts)
	return p
}

// collectParts walks a MIME tree; multipart.Reader already undoes
// quoted-printable in parts, the rest is decoded here.
func collectParts(t testing.TB, contentType, encoding string, body io.Reader, into map[string]string) {
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
