// Command gateway is an example API gateway in front of any HTTP service: it
// lets through requests whose access token authsvc issued and has not revoked,
// and tells the service who the user is in X-User-Id, X-User-Roles and
// X-User-Name. Tokens are verified offline with authsvc's JWKS; revocations
// come from its signed feed, polled in the background.
//
//	AUTHSVC_URL=http://localhost:8080 UPSTREAM_URL=http://localhost:9000 \
//	FEED_CLIENT=gateway:secret-from-INTROSPECTION_CLIENTS go run ./examples/gateway
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authsvc/authsvc/verifier"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	authsvc := strings.TrimRight(env("AUTHSVC_URL", "http://localhost:8080"), "/")
	upstream, err := url.Parse(env("UPSTREAM_URL", ""))
	if err != nil || upstream.Scheme == "" || upstream.Host == "" {
		return errors.New("UPSTREAM_URL: set the service to protect, e.g. http://localhost:9000")
	}
	id, secret, ok := strings.Cut(env("FEED_CLIENT", ""), ":")
	if !ok {
		return errors.New("FEED_CLIENT: set id:secret, one of authsvc's INTROSPECTION_CLIENTS")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := verifier.New(ctx, verifier.Config{
		Issuer: env("AUTHSVC_ISSUER", authsvc), Audience: env("AUTHSVC_AUDIENCE", "authsvc"),
		JWKSURL: authsvc + "/.well-known/jwks.json", FeedURL: authsvc + "/v1/auth/revocations",
		ClientID: id, ClientSecret: secret,
	})
	if err != nil {
		return err
	}
	defer v.Close()
	srv := &http.Server{
		Addr: env("LISTEN_ADDR", ":8081"), Handler: New(v, upstream),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	slog.Info("gateway listening", "addr", srv.Addr, "upstream", upstream.String(), "authsvc", authsvc)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
