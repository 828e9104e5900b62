// authsvc is a JWT authentication and user-management service.
//
//	@title						authsvc API
//	@version					1.0
//	@description				Sign up, log in, refresh and log out with short-lived JWT access tokens and rotating refresh tokens; manage users, roles, sessions and audit events. Errors are RFC 9457 problem JSON with a stable `code`.
//	@license.name				MIT
//	@BasePath					/
//	@securityDefinitions.apikey	BearerAuth
//	@in							header
//	@name						Authorization
//	@description				Type "Bearer" followed by a space and the access token from /v1/auth/login.
//	@securityDefinitions.basic	IntrospectionClient
package main

//go:generate go tool swag init --generalInfo main.go --output docs --outputTypes go,json,yaml --parseInternal

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
