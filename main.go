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
	"syscall"

	"github.com/authsvc/authsvc/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
