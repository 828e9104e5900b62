// authsvc is a JWT authentication and user-management service.
//
//	@title						authsvc API
//	@version					1.0
//	@description				Sign up, log in, refresh and log out with short-lived JWT access tokens and rotating refresh tokens; manage users, roles, sessions and audit events; service clients (OAuth 2.0 client credentials) and personal access tokens. Errors are RFC 9457 problem JSON with a stable `code`, except those of the OAuth token endpoint (POST /v1/oauth/token), which are RFC 6749 §5.2 objects.
//	@license.name				MIT
//	@BasePath					/
//	@tag.name					auth
//	@tag.description			Sign up; log in with a password (and a second factor) or a passkey; refresh and log out; reset a forgotten password; verify an email address. Public: no token needed, except to log out and check the session.
//	@tag.name					me
//	@tag.description			The signed-in user's own account: profile, email, password, sessions, deletion. Changes of credentials ask for the current password.
//	@tag.name					mfa
//	@tag.description			The signed-in user's second factor: turning TOTP on and off, and recovery codes. Needs a verified email address.
//	@tag.name					passkeys
//	@tag.description			The signed-in user's passkeys (WebAuthn): register, list, remove. Off unless the service has a relying party ID.
//	@tag.name					providers
//	@tag.description			Sign in with an external identity provider (any OpenID Connect provider, or GitHub): the redirect flow with PKCE for web apps and SPAs, ID tokens for native apps; and the signed-in user's linked identities.
//	@tag.name					users
//	@tag.description			Managing other users, with users:read, users:write, sessions:read or sessions:write. Your own account changes through /v1/me.
//	@tag.name					roles
//	@tag.description			Roles and the permissions they grant, with roles:read or roles:write.
//	@tag.name					clients
//	@tag.description			Service clients for the OAuth 2.0 client credentials grant, with clients:read or clients:write: each acts with the permissions given to it; its secret is shown once.
//	@tag.name					oauth
//	@tag.description			The OAuth 2.0 token endpoint of service clients (client credentials, RFC 6749 §4.4): form-encoded, with RFC 6749 §5.2 error objects.
//	@tag.name					audit
//	@tag.description			The audit trail of logins and changes, with audit:read.
//	@tag.name					gateways
//	@tag.description			For API gateways and other services, authenticated with HTTP Basic as one of INTROSPECTION_CLIENTS: token introspection (RFC 7662) and the signed revocation feed.
//	@tag.name					discovery
//	@tag.description			Public: the signing keys and the authorization-server metadata, for verifying access tokens offline.
//	@tag.name					operations
//	@tag.description			Public: liveness, readiness and Prometheus metrics, for operators and load balancers.
//	@securityDefinitions.apikey	BearerAuth
//	@in							header
//	@name						Authorization
//	@description				An access token (access_token from login, refresh or the second login step, or a service client's from POST /v1/oauth/token), or a personal access token (authsvc_pat_…), sent as "Authorization: Bearer <token>". Swagger 2.0 has no bearer scheme, only this API key, whose value goes into the header exactly as typed: enter the word Bearer, a space, then the token.
//	@securityDefinitions.basic	IntrospectionClient
//	@securityDefinitions.basic	ClientSecretBasic
package main

//go:generate go tool swag init --generalInfo main.go --output docs --outputTypes go,json,yaml --parseInternal
//go:generate go run ./internal/openapi3gen -in docs/swagger.json -out docs/openapi.json

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/authsvc/authsvc/cli"
)

// softMemoryLimit is where the garbage collector works harder, unless
// GOMEMLIMIT says otherwise. Each argon2id call leaves its memory (19 MiB by
// default) as garbage; under the default pacing the heap would reach twice the
// hashes in flight before a collection. With it, memory follows the bounded
// hashing: a login flood stays under 150 MiB.
const softMemoryLimit = 96 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
