// Package hooks asks the operator's own code before authsvc acts: the token
// hook (TOKEN_HOOK_URL) before an access token is signed, the signup hook
// (SIGNUP_HOOK_URL) before an account is created by the user themself. A hook
// is a signed POST (Standard Webhooks: webhook-id, webhook-timestamp,
// webhook-signature) of a JSON body, answered with JSON.
//
// A failure (unreachable, timeout, a non-2xx status, an answer that is not
// JSON) is ErrFailed when the hook fails closed (HOOK_FAILURE=closed, the
// default: the request answers 503 hook_failed), or a logged warning when it
// fails open (the request goes on as if there were no hook).
//
// Hooks are the operator's code, often on a private network: there is no
// guard on the addresses they resolve to, but redirects are never followed.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/token"
	"github.com/authsvc/authsvc/tracing"
)

// ErrFailed: a hook that fails closed did not give a usable answer.
var ErrFailed = errors.New("hooks: the hook failed")

// MaxAnswer bounds a hook's answer.
const MaxAnswer = 64 << 10

// DefaultTimeout is HOOK_TIMEOUT's default.
const DefaultTimeout = 2 * time.Second

// MaxReason bounds the reason of a denied signup, in bytes.
const MaxReason = 300

// Config is one hook.
type Config struct {
	Name    string // "token" or "signup": named in logs
	URL     string // absolute http(s)
	Secret  string // "whsec_" + base64
	Timeout time.Duration
	// FailOpen: on a failure, log a warning and go on (HOOK_FAILURE=open).
	FailOpen bool
	// Client sends the requests (nil: a client of its own). Its redirect
	// policy is replaced: redirects are never followed.
	Client *http.Client
	Log    *slog.Logger     // nil: nowhere
	Now    func() time.Time // nil: time.Now
	// Observe is told of every call: the hook's name, "ok" (an answer,
	// whatever it said) or "failed", and how long it took (nil: nobody).
	Observe func(hook, outcome string, took time.Duration)
}

// Hook is one configured hook.
type Hook struct {
	name     string
	url      string
	signer   *standardwebhooks.Webhook
	timeout  time.Duration
	failOpen bool
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
	observe  func(hook, outcome string, took time.Duration)

	ignoredMu sync.Mutex
	ignored   map[string]bool // reserved claim names already logged
}

// maxIgnoredLogged bounds the names remembered as logged, whatever a hook sends.
const maxIgnoredLogged = 256

// CheckURL reports whether u is an absolute http or https URL with a host.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("not a URL")
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return errors.New("must be an absolute http or https URL")
	}
	if p.Host == "" || p.Hostname() == "" {
		return errors.New("must name a host")
	}
	if p.User != nil {
		return errors.New("must not carry credentials")
	}
	return nil
}

// CheckSecret reports whether secret is a signing secret the library takes:
// "whsec_" followed by non-empty base64.
func CheckSecret(secret string) error {
	if !strings.HasPrefix(secret, "whsec_") {
		return errors.New(`must start with "whsec_"`)
	}
	if _, err := standardwebhooks.NewWebhook(secret); err != nil {
		return errors.New(`must be "whsec_" followed by base64`) // never the secret itself
	}
	return nil
}

// New builds a hook from cfg.
func New(cfg Config) (*Hook, error) {
	if err := CheckURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("hooks: %s hook URL %w", cfg.Name, err)
	}
	if err := CheckSecret(cfg.Secret); err != nil {
		return nil, fmt.Errorf("hooks: %s hook secret %w", cfg.Name, err)
	}
	signer, err := standardwebhooks.NewWebhook(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s hook secret is invalid", cfg.Name)
	}
	h := &Hook{
		name: cfg.Name, url: cfg.URL, signer: signer, timeout: cfg.Timeout, failOpen: cfg.FailOpen,
		log: cfg.Log, now: cfg.Now, observe: cfg.Observe, ignored: map[string]bool{},
	}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	client := &http.Client{}
	if cfg.Client != nil {
		c := *cfg.Client // a copy: the caller's client keeps its own policy
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	h.client = client
	return h, nil
}

// FailOpen reports whether a failure is ignored.
func (h *Hook) FailOpen() bool { return h.failOpen }

// call POSTs body, signed, and decodes the answer into answer. On a failure
// it returns ErrFailed when closed; when open it logs a warning and returns
// (false, nil). ok is true when answer was filled.
func (h *Hook) call(ctx context.Context, body, answer any) (ok bool, err error) {
	return h.callChecked(ctx, body, answer, nil)
}

// do is one signed request; its error says what failed, never the secret or
// the body.
func (h *Hook) do(ctx context.Context, body, answer any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	id := "msg_" + uuid.Must(uuid.NewV7()).String()
	ts := h.now()
	sig, err := h.signer.Sign(id, ts, payload)
	if err != nil {
		return errors.New("sign failed")
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(payload))
	if err != nil {
		return errors.New("bad request URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "authsvc-hooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(ts.Unix()))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s", h.timeout)
		}
		return errors.New("unreachable: " + scrub(err))
	}
	defer resp.Body.Close()
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
		return fmt.Errorf("answered status %d", resp.StatusCode)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return errors.New("the answer is not application/json")
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", h.timeout)
		}
		return errors.New("reading the answer failed")
	}
	if len(raw) > MaxAnswer {
		return fmt.Errorf("the answer exceeds %d bytes", MaxAnswer)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(answer); err != nil {
		return errors.New("the answer is not the expected JSON")
	}
	if dec.More() {
		return errors.New("the answer has data after its JSON value")
	}
	return nil
}

// scrub is a transport error without the URL it names (the URL may carry a
// token in its query).
func scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// User is the public view of a user a token hook sees.
type User struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	Username  string   `json:"username"`
	FirstName string   `json:"first_name"`
	LastName  string   `json:"last_name"`
	Roles     []string `json:"roles"`
}

// TokenRequest is the token hook's body.
type TokenRequest struct {
	Type      string        `json:"type"` // token.issue
	User      User          `json:"user"`
	SessionID string        `json:"session_id"`
	AMR       []string      `json:"amr"`
	Claims    *token.Claims `json:"claims"`
}

type tokenAnswer struct {
	Claims map[string]any `json:"claims"`
}

// Token asks the hook which claims to add to the token claims are about to
// become. Reserved names (token.IsReserved) are dropped, and each is logged
// once. With the hook failing open, a failure adds nothing.
func (h *Hook) Token(ctx context.Context, user User, claims *token.Claims) (map[string]any, error) {
	if user.Roles == nil {
		user.Roles = []string{}
	}
	amr := claims.AMR
	if amr == nil {
		amr = []string{}
	}
	ctx, span := tracing.Start(ctx, "hook.token", attribute.String("hook.name", h.name))
	defer span.End()
	var ans tokenAnswer
	ok, err := h.call(ctx, TokenRequest{Type: "token.issue", User: user, SessionID: claims.SessionID, AMR: amr, Claims: claims}, &ans)
	if err != nil || !ok || len(ans.Claims) == 0 {
		return nil, err
	}
	out := make(map[string]any, len(ans.Claims))
	for k, v := range ans.Claims {
		if k == "" || token.IsReserved(k) {
			h.ignoredOnce(ctx, k)
			continue
		}
		out[k] = v
	}
	return out, nil
}

// ignoredOnce logs that the hook tried to set the reserved claim name, the
// first time only.
func (h *Hook) ignoredOnce(ctx context.Context, name string) {
	h.ignoredMu.Lock()
	seen := h.ignored[name]
	if !seen && len(h.ignored) < maxIgnoredLogged {
		h.ignored[name] = true
	}
	h.ignoredMu.Unlock()
	if !seen {
		h.log.WarnContext(ctx, "token hook tried to set a reserved claim; ignored (logged once per claim)",
			"hook", h.name, "claim", clip(name, 64))
	}
}

// SignupUser is who a signup hook is asked about.
type SignupUser struct {
	Email     string `json:"email"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Provider  string `json:"provider"` // "" for a signup by password or email code
}

// SignupRequest is the signup hook's body.
type SignupRequest struct {
	Type string     `json:"type"` // signup
	User SignupUser `json:"user"`
}

type signupAnswer struct {
	Allow  *bool  `json:"allow"`
	Reason string `json:"reason"`
}

// Signup asks the hook whether u may sign up: allowed, or not and why (at
// most MaxReason bytes of valid UTF-8). An answer without "allow" is a
// failure. With the hook failing open, a failure allows.
func (h *Hook) Signup(ctx context.Context, u SignupUser) (allowed bool, reason string, err error) {
	ctx, span := tracing.Start(ctx, "hook.signup", attribute.String("hook.name", h.name))
	defer span.End()
	var ans signupAnswer
	ok, err := h.callChecked(ctx, SignupRequest{Type: "signup", User: u}, &ans, func() error {
		if ans.Allow == nil {
			return errors.New(`the answer has no boolean "allow"`)
		}
		return nil
	})
	if err != nil {
		return false, "", err
	}
	if !ok || *ans.Allow {
		return true, "", nil
	}
	return false, clip(strings.ToValidUTF8(ans.Reason, "\uFFFD"), MaxReason), nil
}

// callChecked is call with check run on the decoded answer: a check that
// fails is a failure like any other.
func (h *Hook) callChecked(ctx context.Context, body, answer any, check func() error) (bool, error) {
	start := time.Now() // the wall clock: h.now may be a test's fixed clock
	err := h.do(ctx, body, answer)
	if err == nil && check != nil {
		err = check()
	}
	if h.observe != nil {
		outcome := "ok"
		if err != nil {
			outcome = "failed"
		}
		h.observe(h.name, outcome, time.Since(start))
	}
	if err != nil {
		// Not err's text: it may quote the hook's answer.
		trace.SpanFromContext(ctx).SetStatus(codes.Error, "hook failed")
		if h.failOpen {
			h.log.WarnContext(ctx, "hook failed; going on without it (HOOK_FAILURE=open)",
				"hook", h.name, "err", err.Error())
			return false, nil
		}
		h.log.ErrorContext(ctx, "hook failed; refusing the request (HOOK_FAILURE=closed)",
			"hook", h.name, "err", err.Error())
		return false, ErrFailed
	}
	return true, nil
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
