package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/hashpool"
	"github.com/authsvc/authsvc/hooks"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/serviceclients"
	"github.com/authsvc/authsvc/sessions"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/webhooks"
)

// Problems of the domain errors: what a client sees for each. Handlers return
// errors as they come; the renderer looks them up here (toProblem), so no
// handler maps errors to statuses by itself.
var problems = []struct {
	err error
	p   *problem.Error
}{
	{accounts.ErrInvalidCredentials, problem.Unauthorized("invalid_credentials", "The login or password is wrong.")},
	{accounts.ErrAccountPending, problem.Forbidden("account_pending", "The account awaits approval by an administrator.")},
	{accounts.ErrAccountDisabled, problem.Forbidden("account_disabled", "The account is disabled.")},
	{accounts.ErrInvalidAdminKey, problem.Forbidden("invalid_admin_key", "The admin key is not valid.")},
	{accounts.ErrUserNotFound, problem.ErrUserNotFound},
	{accounts.ErrCallerGone, problem.ErrRevoked},
	// Roles and users:write alone must not lead to admin rights.
	{accounts.ErrBeyondOwnRights, problem.Forbidden("forbidden", "You cannot grant, change or act on permissions you do not hold yourself, nor act on an administrator unless you are one.")},
	{accounts.ErrAdminsOnly, problem.Forbidden("forbidden", "Only administrators can do this.")},
	{accounts.ErrForbidden, problem.ErrForbidden},
	{accounts.ErrSessionRequired, problem.ErrSessionRequired},
	{accounts.ErrTokenNotFound, problem.NotFound("token_not_found", "No such personal access token.")},
	{accounts.ErrTooManyTokens, problem.Conflict("too_many_tokens", "The account holds the most personal access tokens allowed (100); revoke one first.")},
	{serviceclients.ErrNotFound, problem.NotFound("client_not_found", "No such client.")},
	{webhooks.ErrNotFound, problem.NotFound("webhook_not_found", "No such webhook.")},
	{accounts.ErrEmailLoginDisabled, errEmailLoginDisabled},
	{accounts.ErrInvalidCode, errInvalidCode},
	{accounts.ErrAlreadyAccepted, errAlreadyAccepted},
	{accounts.ErrPrivateFilter, problem.Forbidden("forbidden", "Filtering by role, status or verified needs users:read.")},
	{accounts.ErrLastAdmin, problem.Conflict("last_admin", "This would leave no active administrator; make another one first.")},
	{accounts.ErrCannotDeleteSelf, problem.Conflict("cannot_delete_self", "You cannot delete your own account here; use DELETE /v1/me.")},
	{accounts.ErrSelfServiceRequired, problem.Forbidden("self_service_required", "Your own email, password, status, roles, factors and sessions change through /v1/me, which asks for your password or a code.")},
	{accounts.ErrSamePassword, problem.Invalid(problem.FieldError{Field: "new_password", Message: "must differ from the current password"})},
	{accounts.ErrInvalidResetToken, problem.BadRequest("invalid_token", "The reset link is unknown, already used, expired or replaced by a newer one; ask for a new link.")},
	{accounts.ErrEmailUnverified, problem.Forbidden("email_unverified", "Confirm your email address first: open the link mailed to you, or ask for a new one at POST /v1/auth/email/resend.")},
	{accounts.ErrInvalidEmailToken, problem.BadRequest("invalid_token", "The link is unknown, already used, expired or replaced by a newer one; ask for a new link.")},
	{accounts.ErrUndeliverableAddress, problem.Invalid(problem.FieldError{Field: "email", Message: "must be an address mail can be sent to"})},
	{accounts.ErrInviteDisabled, problem.Invalid(problem.FieldError{Field: "status", Message: "must not be disabled with invite: a disabled account cannot accept the invitation"})},
	{accounts.ErrInvalidMFAToken, problem.Unauthorized("invalid_mfa_token", "The second login step is unknown, used, expired or failed too often; log in again.")},
	{accounts.ErrInvalidMFACode, problem.Unauthorized("invalid_mfa_code", "The code is wrong or was already used.")},
	{accounts.ErrInvalidEnrolCode, problem.BadRequest("invalid_mfa_code", "The code does not match the new authenticator; check the device's clock and try the current code.")},
	{accounts.ErrMFAAlreadyEnabled, problem.Conflict("mfa_already_enabled", "TOTP is already on; turn it off first to set up another authenticator.")},
	{accounts.ErrMFANotEnabled, problem.Conflict("mfa_not_enabled", "TOTP is not on.")},
	{accounts.ErrMFANotStarted, problem.Conflict("mfa_not_started", "No authenticator awaits confirmation; start with POST /v1/me/mfa/totp.")},
	{accounts.ErrPasskeysDisabled, problem.NotFound("passkeys_disabled", "Passkeys are off: the service has no relying party ID (set WEBAUTHN_RP_ID, or a PUBLIC_URL with a domain name).")},
	{accounts.ErrInvalidPasskey, problem.Unauthorized("invalid_passkey", "The passkey was not accepted: unknown, for another site, a used or expired challenge, or a bad signature.")},
	{accounts.ErrInvalidRegistration, problem.BadRequest("invalid_passkey", "The new passkey was not accepted: for another site, a used or expired challenge, or a failed verification; start again.")},
	{accounts.ErrPasskeyNotFound, problem.NotFound("passkey_not_found", "No such passkey.")},
	{accounts.ErrTooManyPasskeys, problem.Conflict("too_many_passkeys", "The account holds the most passkeys allowed; remove one first.")},
	{federation.ErrUnknownProvider, problem.NotFound("unknown_provider", "No identity provider of that name is configured (GET /v1/auth/providers lists them).")},
	{federation.ErrUnavailable, providerUnavailable},
	{federation.ErrProvider, problem.New(http.StatusServiceUnavailable, "provider_error", "The identity provider gave an answer that does not verify; try again later.")},
	{federation.ErrInvalidIDToken, problem.Unauthorized("invalid_id_token", "The ID token was not accepted: a bad signature, another issuer or audience, expired, or a wrong nonce.")},
	{federation.ErrNoIDTokens, problem.BadRequest("id_tokens_unsupported", "This provider issues no ID tokens; use its redirect flow (GET /v1/auth/providers/{name}/authorize).")},
	{accounts.ErrInvalidRedirectURI, problem.BadRequest("invalid_redirect_uri", "redirect_uri is not one of REDIRECT_URLS (compared exactly).")},
	{accounts.ErrInvalidState, problem.BadRequest("invalid_state", "The sign-in is unknown, already finished or expired; start again.")},
	{accounts.ErrInvalidGrant, problem.BadRequest("invalid_grant", "The code is unknown, used or expired, or the code_verifier does not match its challenge.")},
	{accounts.ErrIdentityConflict, problem.Conflict("identity_conflict", "An account with this email address exists; sign in to it and link the provider from the account.")},
	{accounts.ErrIdentityTaken, problem.Conflict("identity_taken", "That identity is linked to another account.")},
	{accounts.ErrSignupDisabled, problem.Forbidden("signup_disabled", "No account is linked to this identity, and sign-up through this provider is off.")},
	{accounts.ErrEmailRequired, problem.BadRequest("email_required", "The provider gave no usable email address.")},
	{accounts.ErrIdentityNotFound, problem.NotFound("identity_not_found", "No such identity.")},
	{accounts.ErrLastLoginMethod, problem.Conflict("last_login_method", "This is the account's only way to sign in; set a password (forgot-password) or add a passkey first.")},
	{accounts.ErrPasswordNotSet, problem.Forbidden("password_not_set", "The account has no password to confirm this with (it was made by a sign-in with a provider); set one with POST /v1/auth/password/forgot first.")},
	{accounts.ErrSessionNotFound, problem.NotFound("session_not_found", "No such session.")},
	{accounts.ErrRoleNotFound, problem.NotFound("role_not_found", "No such role.")},
	{accounts.ErrRoleExists, problem.Conflict("role_exists", "A role with this name already exists.")},
	{accounts.ErrBuiltinRole, problem.Conflict("builtin_role", "Built-in roles cannot be deleted and their permissions cannot change.")},
	{sessions.ErrInvalid, problem.Unauthorized("invalid_refresh_token", "The refresh token is unknown, expired or revoked.")},
	{sessions.ErrReused, problem.Unauthorized("refresh_token_reused", "The refresh token was already used; the session has been revoked.")},
	{errCSRFFailed, problem.Forbidden("csrf_failed", "Send the authsvc_csrf cookie's value in the X-CSRF-Token header, from an allowed origin.")},
	{errRefreshTokenInBody, problem.Invalid(problem.FieldError{Field: "refresh_token", Message: "must not be sent in the body in cookie mode; the refresh cookie carries it"})},
	{store.ErrNotFound, problem.NotFound("not_found", "Not found.")},
	{hashpool.ErrOverloaded, overloaded},
	{hooks.ErrFailed, hookFailed},
}

// hookFailed: a hook (TOKEN_HOOK_URL, SIGNUP_HOOK_URL) failing closed gave no
// usable answer.
var hookFailed = func() *problem.Error {
	p := problem.New(http.StatusServiceUnavailable, "hook_failed", "A hook this service asks before acting did not answer usably; try again shortly.")
	p.RetryAfter = 5
	return p
}()

// overloaded: more password checks are waiting than can finish soon.
var overloaded = func() *problem.Error {
	p := problem.New(http.StatusServiceUnavailable, "overloaded", "Too many password checks are in progress; try again shortly.")
	p.RetryAfter = 2
	return p
}()

// providerUnavailable: the provider was not reached in time, or not discovered yet.
var providerUnavailable = func() *problem.Error {
	p := problem.New(http.StatusServiceUnavailable, "provider_unavailable", "The identity provider cannot be reached at the moment; try again shortly.")
	p.RetryAfter = 5
	return p
}()

// toProblem is what the client sees of err: a problem as it is, a domain error
// by the table above, and anything else is the service failing: 503 when the
// database is out of reach (the client may retry), 500 otherwise.
func toProblem(err error) *problem.Error {
	if p, ok := problem.As(err); ok {
		return p
	}
	for _, row := range problems {
		if errors.Is(err, row.err) {
			return row.p
		}
	}
	var weak *accounts.WeakPasswordError
	var unknownRole *accounts.UnknownRoleError
	var unknownPerm *accounts.UnknownPermissionError
	var conflict *store.ConflictError
	var limited *ratelimit.RefusedError
	var locked *accounts.LockedError
	var denied *accounts.SignupDeniedError
	var invalidWebhook *webhooks.InvalidError
	switch {
	case errors.As(err, &invalidWebhook):
		return problem.Invalid(problem.FieldError{Field: invalidWebhook.Field, Message: invalidWebhook.Message})
	case errors.As(err, &denied):
		detail := denied.Reason
		if detail == "" {
			detail = "The signup was denied."
		}
		return problem.Forbidden("signup_denied", detail)
	case errors.As(err, &locked):
		p := problem.New(http.StatusTooManyRequests, "too_many_attempts", "Too many failed logins; login is locked for a while.")
		p.RetryAfter = int(locked.RetryAfter.Seconds())
		return p
	case errors.As(err, &limited):
		p := problem.New(http.StatusTooManyRequests, "rate_limited", "Too many attempts; try again later.")
		p.RetryAfter = int(limited.RetryAfter.Seconds())
		return p
	case errors.As(err, &weak):
		return problem.Invalid(problem.FieldError{Field: weak.Field, Message: weak.Reason})
	case errors.As(err, &unknownRole):
		p := problem.BadRequest("unknown_role", fmt.Sprintf("There is no role named %q.", unknownRole.Name))
		p.Errors = []problem.FieldError{{Field: "roles", Message: fmt.Sprintf("unknown role %q", unknownRole.Name)}}
		return p
	case errors.As(err, &unknownPerm):
		p := problem.BadRequest("unknown_permission", fmt.Sprintf("Unknown permission %q; known: %s.", unknownPerm.Name, strings.Join(models.Permissions, ", ")))
		p.Errors = []problem.FieldError{{Field: "permissions", Message: fmt.Sprintf("unknown permission %q", unknownPerm.Name)}}
		return p
	case errors.As(err, &conflict):
		switch conflict.Field {
		case "email":
			return problem.Conflict("email_taken", "That email address is already registered.")
		case "username":
			return problem.Conflict("username_taken", "That username is taken.")
		}
		return problem.Conflict("conflict", "That "+conflict.Field+" is already taken.")
	case store.IsUnavailable(err):
		return problem.Unavailable(err)
	}
	return problem.From(err) // Echo's own errors by status, anything else 500
}
