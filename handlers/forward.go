package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/problem"
)

// Forward answers the forward-auth subrequests of gateways that cannot
// verify tokens themselves (nginx auth_request, Traefik ForwardAuth, Caddy
// forward_auth, Envoy ext_authz): is this request's bearer token live, and
// does its user meet the route's requirements?
type Forward struct {
	Live *middleware.Live
}

// The headers a forward-auth answer carries to the upstream. Gateways strip
// every client-sent header of these names (deploy/).
const (
	HeaderAuthUserID      = "X-Auth-User-Id"
	HeaderAuthUsername    = "X-Auth-Username"
	HeaderAuthEmail       = "X-Auth-Email"
	HeaderAuthRoles       = "X-Auth-Roles"
	HeaderAuthPermissions = "X-Auth-Permissions"
	HeaderAuthSessionID   = "X-Auth-Session-Id"
	HeaderAuthAMR         = "X-Auth-AMR"
	HeaderAuthIDP         = "X-Auth-IDP"
	HeaderAuthClientID    = "X-Auth-Client-Id"
)

// requirement is what a route asks of the user: any of roles, all of
// permissions, all of amr. Unset parts ask nothing.
type requirement struct {
	roles, permissions, amr []string
}

// requirementsOf are the requirements of a subrequest: its query's (role=,
// permission=, amr=), and those a gateway sets as X-Auth-Require-Role,
// -Permission and -AMR headers (Envoy, whose subrequest path and query are
// the client's). Each source is a requirement of its own and all must hold,
// so a client who adds one can only narrow what passes, never widen it.
func requirementsOf(r *http.Request) []requirement {
	q := r.URL.Query()
	return []requirement{
		{roles: listOf(q["role"]), permissions: listOf(q["permission"]), amr: listOf(q["amr"])},
		{roles: listOf(r.Header.Values("X-Auth-Require-Role")), permissions: listOf(r.Header.Values("X-Auth-Require-Permission")),
			amr: listOf(r.Header.Values("X-Auth-Require-AMR"))},
	}
}

// listOf splits comma-separated values, repeated or not, dropping blanks.
func listOf(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// met reports whether a caller with these grants, in a session
// authenticated by amr, meets the requirement.
func (q requirement) met(roles, permissions, amr []string) bool {
	if len(q.roles) > 0 && !slices.ContainsFunc(q.roles, func(r string) bool { return slices.Contains(roles, r) }) {
		return false
	}
	for _, p := range q.permissions {
		if !slices.Contains(permissions, p) {
			return false
		}
	}
	for _, m := range q.amr {
		if !slices.Contains(amr, m) {
			return false
		}
	}
	return true
}

// forwardAuth godoc
//
//	@ID				forwardAuth
//	@Summary		Forward authentication for gateways
//	@Description	For nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy ext_authz and the like: any method, also at /v1/auth/forward/{path} (Envoy's path prefix). The bearer token is checked as GET /v1/me checks it (a revoked session is refused at once); no body is read and no rate limit applies. 200 with an empty body and the X-Auth-* headers for the upstream. Requirements: role= (any of), permission= (all of), amr= (all of), comma-separated or repeated; a gateway that cannot set a query (Envoy) sends X-Auth-Require-Role, -Permission and -AMR headers instead. Each source must be met on its own, so a requirement a client adds can only narrow what passes.
//	@Tags			gateways
//	@Produce		json
//	@Param			role		query	string	false	"Any of these roles (comma-separated)"
//	@Param			permission	query	string	false	"All of these permissions (comma-separated)"
//	@Param			amr			query	string	false	"All of these authentication methods (comma-separated), e.g. mfa"
//	@Success		200
//	@Header			200	{string}	X-Auth-User-Id		"The user's id"
//	@Header			200	{string}	X-Auth-Username		"The username"
//	@Header			200	{string}	X-Auth-Email		"The email address"
//	@Header			200	{string}	X-Auth-Roles		"Role names, comma-separated"
//	@Header			200	{string}	X-Auth-Permissions	"Permissions, comma-separated"
//	@Header			200	{string}	X-Auth-Session-Id	"The session's id"
//	@Header			200	{string}	X-Auth-AMR			"How the session was authenticated (RFC 8176), comma-separated"
//	@Header			200	{string}	X-Auth-IDP			"The external identity provider the session was opened with, when one was"
//	@Header			200	{string}	X-Auth-Client-Id	"The service client, for a service token (which has no user: X-Auth-User-Id, -Username and -Email are empty)"
//	@Failure		401	{object}	problem.Error	"missing_token, invalid_token, token_expired, session_revoked; WWW-Authenticate: Bearer realm=\"authsvc\""
//	@Failure		403	{object}	problem.Error	"forbidden: a requirement is not met; WWW-Authenticate: Bearer error=\"insufficient_scope\""
//	@Security		BearerAuth
//	@Router			/v1/auth/forward [get]
func (h *Forward) forwardAuth(c echo.Context) error {
	cred, err := h.Live.Authenticate(c)
	var who *bearer
	if err == nil {
		who, err = bearerOf(c.Request().Context(), h.Live, cred)
	}
	if err != nil {
		return h.refuse(c, err)
	}
	claims := cred.Claims
	for _, q := range requirementsOf(c.Request()) {
		if !q.met(who.roles(), who.Permissions(), claims.AMR) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="authsvc", error="insufficient_scope"`)
			return problem.Forbidden("forbidden", "The caller does not meet this route's requirements (role, permission or amr).")
		}
	}
	hd := c.Response().Header()
	// The user's three are sent empty for a service token, which has no user:
	// gateways that copy them (Caddy) expect all seven on every 200.
	var userID, username, email string
	if acct := who.Account; acct != nil {
		userID, username, email = acct.ID.String(), acct.Username, acct.Email
	}
	hd.Set(HeaderAuthUserID, userID)
	hd.Set(HeaderAuthUsername, username)
	hd.Set(HeaderAuthEmail, email)
	if claims.ClientID != "" {
		hd.Set(HeaderAuthClientID, claims.ClientID)
	}
	hd.Set(HeaderAuthRoles, strings.Join(who.roles(), ","))
	hd.Set(HeaderAuthPermissions, strings.Join(who.Permissions(), ","))
	hd.Set(HeaderAuthSessionID, claims.SessionID)
	hd.Set(HeaderAuthAMR, strings.Join(claims.AMR, ","))
	if claims.IDP != "" {
		hd.Set(HeaderAuthIDP, claims.IDP)
	}
	return c.NoContent(http.StatusOK)
}

// refuse answers a request without a live token: 401 with the challenge of
// RFC 6750 (error="invalid_token" when a token was sent); anything else
// (the database out of reach) as it is.
func (h *Forward) refuse(c echo.Context, err error) error {
	if p, ok := problem.As(err); ok && p.Status == http.StatusUnauthorized {
		challenge := `Bearer realm="authsvc"`
		if middleware.BearerToken(c) != "" {
			challenge += `, error="invalid_token"`
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	}
	return err
}
