package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
)

// PasskeyOptionsResponse starts a WebAuthn ceremony: give public_key to
// PublicKeyCredential.parseCreationOptionsFromJSON (registration) or
// parseRequestOptionsFromJSON (login), and send challenge_id back with the result.
type PasskeyOptionsResponse struct {
	ChallengeID string `json:"challenge_id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	// PublicKey is PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON (base64url fields).
	PublicKey any `json:"public_key" swaggertype:"object"`
} // @name PasskeyOptionsResponse

// challengeID is the validated challenge_id; uuid.Nil (no such ceremony) if it does not parse.
func challengeID(s string) uuid.UUID {
	id, _ := uuid.Parse(s)
	return id
}

func optionsView(o *accounts.PasskeyOptions) PasskeyOptionsResponse {
	return PasskeyOptionsResponse{ChallengeID: o.ChallengeID.String(), PublicKey: o.PublicKey}
}

// Passkey is one of the user's passkeys.
type Passkey struct {
	ID         string     `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Name       string     `json:"name" example:"Laptop"`
	CreatedAt  time.Time  `json:"created_at" example:"2026-01-02T15:04:05Z"`
	LastUsedAt *time.Time `json:"last_used_at" example:"2026-01-02T15:04:05Z" extensions:"x-nullable"`
} // @name Passkey

// PasskeyResponse wraps one passkey.
type PasskeyResponse struct {
	Passkey Passkey `json:"passkey"`
} // @name PasskeyResponse

// PasskeysResponse lists passkeys.
type PasskeysResponse struct {
	Passkeys []Passkey `json:"passkeys"`
} // @name PasskeysResponse

func passkeyView(p *models.Passkey) Passkey {
	return Passkey{ID: p.ID.String(), Name: p.Name, CreatedAt: p.CreatedAt.UTC(), LastUsedAt: utcPtr(p.LastUsedAt)}
}

// passkeyRegistrationOptions godoc
//
//	@ID				passkeyRegistrationOptions
//	@Summary		Start registering a passkey
//	@Description	Needs the current password. Returns the options for navigator.credentials.create (as PublicKeyCredentialCreationOptionsJSON: a resident key is required, user verification preferred, the user's passkeys excluded) and the challenge_id to finish with POST /v1/me/passkeys/register within 5 minutes. The ceremony itself needs a browser: see the demo page /demo/passkeys (PASSKEY_DEMO=true).
//	@Tags			passkeys
//	@Accept			json
//	@Produce		json
//	@Param			body	body		PasswordRequest	true	"The current password"
//	@Success		200		{object}	PasskeyOptionsResponse
//	@Failure		400		{object}	problem.Error	"validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_credentials"
//	@Failure		403		{object}	problem.Error	"email_unverified: confirm the email address first; password_not_set; session_required: personal access tokens and service tokens cannot do this"
//	@Failure		404		{object}	problem.Error	"passkeys_disabled"
//	@Failure		409		{object}	problem.Error	"too_many_passkeys"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me/passkeys/register/options [post]
func (h *Me) passkeyRegistrationOptions(c echo.Context) error {
	req, err := decode[PasswordRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	o, err := h.Accounts.PasskeyRegistrationOptions(c.Request().Context(), me, req.Password)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, optionsView(o))
}

// RegisterPasskeyRequest finishes a registration.
type RegisterPasskeyRequest struct {
	ChallengeID string `json:"challenge_id" validate:"required,uuid" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Name        string `json:"name" validate:"max=64" example:"Laptop"`
	// Credential is PublicKeyCredential.toJSON() of what navigator.credentials.create returned.
	Credential json.RawMessage `json:"credential" validate:"required" swaggertype:"object"`
} // @name RegisterPasskeyRequest

func (r *RegisterPasskeyRequest) normalize() { r.Name = strings.TrimSpace(r.Name) }

// registerPasskey godoc
//
//	@ID				registerPasskey
//	@Summary		Finish registering a passkey
//	@Description	With the challenge_id from POST /v1/me/passkeys/register/options and the browser's credential (PublicKeyCredential.toJSON()). The challenge works once, for 5 minutes; origin and RP ID must be the service's (WEBAUTHN_ORIGINS, WEBAUTHN_RP_ID).
//	@Tags			passkeys
//	@Accept			json
//	@Produce		json
//	@Param			body	body		RegisterPasskeyRequest	true	"The challenge and the new credential"
//	@Success		201		{object}	PasskeyResponse
//	@Failure		400		{object}	problem.Error	"invalid_passkey, validation_failed"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"email_unverified: confirm the email address first; session_required: personal access tokens and service tokens cannot do this"
//	@Failure		404		{object}	problem.Error	"passkeys_disabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/me/passkeys/register [post]
func (h *Me) registerPasskey(c echo.Context) error {
	req, err := decode[RegisterPasskeyRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	p, err := h.Accounts.RegisterPasskey(c.Request().Context(), me, challengeID(req.ChallengeID), req.Name, req.Credential)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, PasskeyResponse{Passkey: passkeyView(p)})
}

// listMyPasskeys godoc
//
//	@ID				listMyPasskeys
//	@Summary		The signed-in user's passkeys
//	@Description	Each passkey's id, name and dates; never the credential itself.
//	@Tags			passkeys
//	@Produce		json
//	@Success		200	{object}	PasskeysResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		404	{object}	problem.Error	"passkeys_disabled"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/passkeys [get]
func (h *Me) listMyPasskeys(c echo.Context) error {
	me, err := actor(c)
	if err != nil {
		return err
	}
	list, err := h.Accounts.Passkeys(c.Request().Context(), me)
	if err != nil {
		return err
	}
	out := PasskeysResponse{Passkeys: make([]Passkey, len(list))}
	for i := range list {
		out.Passkeys[i] = passkeyView(&list[i])
	}
	return c.JSON(http.StatusOK, out)
}

// deleteMyPasskey godoc
//
//	@ID				deleteMyPasskey
//	@Summary		Remove one of the signed-in user's passkeys
//	@Description	The sessions that were opened with this passkey are revoked, and a notice is mailed to the account's address.
//	@Tags			passkeys
//	@Produce		json
//	@Param			id	path	string	true	"Passkey id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		404	{object}	problem.Error	"passkey_not_found, passkeys_disabled"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/passkeys/{id} [delete]
func (h *Me) deleteMyPasskey(c echo.Context) error {
	id, err := pathUUID(c, "id", accounts.ErrPasskeyNotFound)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.DeletePasskey(c.Request().Context(), me, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// passkeyLoginOptions godoc
//
//	@ID				passkeyLoginOptions
//	@Summary		Start a passkey login
//	@Description	Returns the options for navigator.credentials.get (PublicKeyCredentialRequestOptionsJSON) for a discoverable-credential login: no user is named, the authenticator offers the user's passkeys. Finish with POST /v1/auth/passkey/login within 5 minutes. The body may be empty.
//	@Tags			auth
//	@Produce		json
//	@Success		200	{object}	PasskeyOptionsResponse
//	@Failure		404	{object}	problem.Error	"passkeys_disabled"
//	@Failure		429	{object}	problem.Error	"rate_limited"
//	@Security
//	@Router			/v1/auth/passkey/options [post]
func (h *Auth) passkeyLoginOptions(c echo.Context) error {
	if _, err := decodeOptional[struct{}](c); err != nil {
		return err
	}
	o, err := h.Accounts.PasskeyLoginOptions(c.Request().Context(), clientOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, optionsView(o))
}

// PasskeyLoginRequest finishes a passkey login.
type PasskeyLoginRequest struct {
	ChallengeID string `json:"challenge_id" validate:"required,uuid" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	// Credential is PublicKeyCredential.toJSON() of what navigator.credentials.get returned.
	Credential json.RawMessage `json:"credential" validate:"required" swaggertype:"object"`
	// Remember asks for the longer session lifetime (REMEMBER_SESSION_TTL).
	Remember bool `json:"remember" example:"false"`
} // @name PasskeyLoginRequest

// passkeyLogin godoc
//
//	@ID				passkeyLogin
//	@Summary		Log in with a passkey
//	@Description	With the challenge_id from POST /v1/auth/passkey/options and the browser's assertion (PublicKeyCredential.toJSON()). A passkey with user verification is a whole login (amr ["hwk","user"]; no second step). The account's status and lockout apply as for passwords. A signature counter that went backwards (a cloned authenticator) is refused and audited.
//	@Description	With COOKIE_MODE=true the refresh token goes in its cookie, as for login.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		PasskeyLoginRequest	true	"The challenge and the assertion"
//	@Success		200		{object}	TokenResponse
//	@Header			200		{string}	Set-Cookie	"COOKIE_MODE only: __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400		{object}	problem.Error	"validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_passkey"
//	@Failure		403		{object}	problem.Error	"account_disabled, account_pending, email_unverified"
//	@Failure		404		{object}	problem.Error	"passkeys_disabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"rate_limited, too_many_attempts"
//	@Failure		503		{object}	problem.Error	"hook_failed: the token hook (TOKEN_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/passkey/login [post]
func (h *Auth) passkeyLogin(c echo.Context) error {
	req, err := decode[PasskeyLoginRequest](c)
	if err != nil {
		return err
	}
	s, err := h.Accounts.PasskeyLogin(c.Request().Context(), challengeID(req.ChallengeID), req.Credential, req.Remember, clientOf(c))
	h.Metrics.Login(h.loginOutcome(s, err))
	if err != nil {
		return err
	}
	return h.tokens(c, s)
}
