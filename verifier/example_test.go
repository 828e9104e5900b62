package verifier_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/authsvc/authsvc/verifier"
)

// A service in front of authsvc: the issuer and URLs come from the discovery
// document (/.well-known/openid-configuration), the feed credentials from one
// of authsvc's INTROSPECTION_CLIENTS.
func ExampleNew() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop() // stops the feed poller, as Close does

	v, err := verifier.New(ctx, verifier.Config{
		Issuer:           "https://auth.example.com",
		Audience:         "authsvc",
		JWKSURL:          "https://auth.example.com/.well-known/jwks.json",
		FeedURL:          "https://auth.example.com/v1/auth/revocations",
		ClientID:         "gateway",
		ClientSecret:     os.Getenv("AUTHSVC_FEED_SECRET"),
		PollInterval:     5 * time.Second,
		MaxFeedStaleness: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	claims, err := v.Verify(ctx, os.Getenv("ACCESS_TOKEN"))
	if err != nil {
		log.Printf("refused: %v", err) // errors.Is: ErrInvalidToken, ErrExpired, ErrRevoked, ErrFeedStale
		return
	}
	fmt.Println(claims.Subject, claims.Roles)
}

// Middleware verifies the bearer token and puts the claims on the context;
// RequireRole and RequirePermission then answer 403 when they are missing.
// A request without a token gets a 401 problem.
func ExampleVerifier_Middleware() {
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:   "https://auth.example.com",
		Audience: "authsvc",
		JWKSURL:  "http://127.0.0.1:1/.well-known/jwks.json", // unreachable here
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /me", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello", verifier.ClaimsFrom(r.Context()).Username)
	})))
	mux.Handle("GET /admin/users", v.Middleware(verifier.RequirePermission("users:read")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the users") }))))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/me", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Body.String())
	// Output:
	// 401 application/problem+json
	// {"type":"about:blank","title":"Unauthorized","status":401,"detail":"A bearer access token is required.","code":"missing_token"}
}
