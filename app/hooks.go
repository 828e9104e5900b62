package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/hooks"
)

// NewHooks builds the hooks cfg configures (TOKEN_HOOK_URL, SIGNUP_HOOK_URL):
// nil for one that is off. observe is told of every call (the metrics).
func NewHooks(cfg config.Config, log *slog.Logger, now func() time.Time,
	observe func(hook, outcome string, took time.Duration)) (tokenHook, signupHook *hooks.Hook, err error) {
	build := func(name, url, secret string) (*hooks.Hook, error) {
		if url == "" {
			return nil, nil
		}
		return hooks.New(hooks.Config{
			Name: name, URL: url, Secret: secret, Timeout: cfg.HookTimeout,
			FailOpen: cfg.HookFailure == config.HookFailOpen, Log: log, Now: now, Observe: observe,
		})
	}
	if tokenHook, err = build("token", cfg.TokenHookURL, cfg.TokenHookSecret); err != nil {
		return nil, nil, err
	}
	if signupHook, err = build("signup", cfg.SignupHookURL, cfg.SignupHookSecret); err != nil {
		return nil, nil, err
	}
	return tokenHook, signupHook, nil
}

// signupHookOption gives accounts the signup hook h (none when h is nil).
func signupHookOption(h *hooks.Hook) accounts.Option {
	if h == nil {
		return accounts.WithSignupHook(nil)
	}
	return accounts.WithSignupHook(signupHook{h})
}

// signupHook is a hooks.Hook as accounts asks it.
type signupHook struct{ h *hooks.Hook }

func (s signupHook) CheckSignup(ctx context.Context, c accounts.SignupCandidate) (bool, string, error) {
	return s.h.Signup(ctx, hooks.SignupUser{
		Email: c.Email, Username: c.Username, FirstName: c.FirstName, LastName: c.LastName, Provider: c.Provider,
	})
}
