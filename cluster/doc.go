// Package cluster holds no code, only tests: they build the authsvc binary and
// run three instances of it as child processes on one fresh PostgreSQL
// database and the machine's Redis, and check what must hold when a client's
// consecutive requests land on different instances: revocation at once,
// refresh-token reuse detection, one rate limit and one lockout, key rotation
// under load, second factors (TOTP and recovery codes, passkey ceremonies) and
// mailed verification and reset links whose steps each land on another
// instance, start-up together on an empty database, rolling restarts and an
// instance killed mid-load.
//
//	go test ./cluster/                                  # the checks (also run by CI)
//	go test -run '^$' -bench . -benchtime 5s ./cluster/ # GET /v1/me through one instance and through three
package cluster
