package handlers

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/policy"
)

// MFARequest is the second step of a login: the mfa_token from the password
// step, and either a TOTP code or a recovery code (send one of the two).
type MFARequest struct {
	MFAToken string `json:"mfa_token" validate:"required,max=256" example:"Jx3vQ0k2m8Yb1c4N7p9rT5wZ0aB2dF6hK8mP1sU3xW5"`
	// Code is the authenticator app's current code; leave out recovery_code when you send it.
	Code string `json:"code,omitempty" validate:"required_without=RecoveryCode,excluded_with=RecoveryCode,max=16" example:"123456"`
	// RecoveryCode is one of the recovery codes, instead of code.
	RecoveryCode string `json:"recovery_code,omitempty" validate:"max=64"`
} // @name MFARequest

func (r *MFARequest) normalize() {
	r.Code, r.RecoveryCode = strings.TrimSpace(r.Code), strings.TrimSpace(r.RecoveryCode)
}

// completeMFA godoc
//
//	@ID				completeMFA
//	@Summary		Finish a login with a second factor
//	@Description	For a user with TOTP on, login answers mfa_required and an mfa_token instead of tokens. Send that token here with a code from the authenticator app, or with one of the recovery codes, to get the token response. A code works once; a recovery code once ever. A wrong code counts as a failed login toward the lockout; the mfa_token dies after 5 wrong codes or 5 minutes, and is bound to the login's remember choice.
//	@Description	With COOKIE_MODE=true the refresh token goes in its cookie, as for login.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		MFARequest	true	"The mfa_token, and code or recovery_code (remove the one you do not send from the example)"
//	@Success		200		{object}	TokenResponse
//	@Header			200		{string}	Set-Cookie	"COOKIE_MODE only: __Host-authsvc_refresh and authsvc_csrf"
//	@Failure		400		{object}	problem.Error	"validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_mfa_token, invalid_mfa_code"
//	@Failure		403		{object}	problem.Error	"account_disabled, account_pending, email_unverified"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"rate_limited, too_many_attempts"
//	@Failure		503		{object}	problem.Error	"hook_failed: the token hook (TOKEN_HOOK_URL) failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/mfa [post]
func (h *Auth) completeMFA(c echo.Context) error {
	req, err := decode[MFARequest](c)
	if err != nil {
		return err
	}
	s, err := h.Accounts.CompleteMFA(c.Request().Context(), req.MFAToken,
		accounts.SecondFactor{Code: req.Code, RecoveryCode: req.RecoveryCode}, clientOf(c))
	h.Metrics.Login(h.loginOutcome(s, err))
	if err != nil {
		return err
	}
	return h.tokens(c, s)
}

// PasswordRequest confirms an action with the current password.
type PasswordRequest struct {
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
} // @name PasswordRequest

// TOTPEnrolmentResponse is a new authenticator's secret: type it in, or scan the QR code.
type TOTPEnrolmentResponse struct {
	Secret     string `json:"secret" example:"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"`
	OTPAuthURL string `json:"otpauth_url" example:"otpauth://totp/auth.example.com:ada@example.com?algorithm=SHA1&digits=6&issuer=auth.example.com&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"`
	// QRPNG is the otpauth URL as a QR code: a PNG data URL for an <img src>.
	QRPNG string `json:"qr_png" example:"data:image/png;base64,iVBORw0KGgo…"`
} // @name TOTPEnrolmentResponse

// startTOTP godoc
//
//	@ID				startTOTP
//	@Summary		Start turning on TOTP
//	@Description	Needs the current password. Returns a new secret for an authenticator app (as text, otpauth URL and QR code). TOTP is not on until POST /v1/me/mfa/totp/confirm; a new call replaces a secret not yet confirmed.
//	@Tags			mfa
//	@Accept			json
//	@Produce		json
//	@Param			body	body		PasswordRequest	true	"The current password"
//	@Success		201		{object}	TOTPEnrolmentResponse
//	@Failure		400		{object}	problem.Error	"validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_credentials"
//	@Failure		403		{object}	problem.Error	"email_unverified: confirm the email address first; password_not_set; session_required: personal access tokens and service tokens cannot do this"
//	@Failure		409		{object}	problem.Error	"mfa_already_enabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me/mfa/totp [post]
func (h *Me) startTOTP(c echo.Context) error {
	req, err := decode[PasswordRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	e, err := h.Accounts.StartTOTP(c.Request().Context(), me, req.Password)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, TOTPEnrolmentResponse{
		Secret: e.Secret, OTPAuthURL: e.URL,
		QRPNG: "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCodePNG),
	})
}

// TOTPCodeRequest carries a code from the authenticator app.
type TOTPCodeRequest struct {
	Code string `json:"code" validate:"required,max=16" example:"123456"`
} // @name TOTPCodeRequest

func (r *TOTPCodeRequest) normalize() { r.Code = strings.TrimSpace(r.Code) }

// RecoveryCodesResponse is a new set of recovery codes, shown only this once.
type RecoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes" example:"7hx4k-2mq9p,c3vbn-8wrt5"`
} // @name RecoveryCodesResponse

// confirmTOTP godoc
//
//	@ID				confirmTOTP
//	@Summary		Turn TOTP on
//	@Description	With a code from the authenticator app set up by POST /v1/me/mfa/totp. Returns 10 recovery codes, shown only this once: each signs in once in place of a code. TOTP is then on, and the user's other sessions are revoked. A wrong code counts toward the lockout; the 5th wrong code ends the enrolment (409 mfa_not_started: start again with POST /v1/me/mfa/totp).
//	@Tags			mfa
//	@Accept			json
//	@Produce		json
//	@Param			body	body		TOTPCodeRequest	true	"A current code"
//	@Success		200		{object}	RecoveryCodesResponse
//	@Failure		400		{object}	problem.Error	"invalid_mfa_code, validation_failed"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"email_unverified: confirm the email address first; session_required: personal access tokens and service tokens cannot do this"
//	@Failure		409		{object}	problem.Error	"mfa_already_enabled; mfa_not_started (none started, or ended by 5 wrong codes)"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me/mfa/totp/confirm [post]
func (h *Me) confirmTOTP(c echo.Context) error {
	req, err := decode[TOTPCodeRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	codes, err := h.Accounts.ConfirmTOTP(c.Request().Context(), me, middleware.SessionID(c), req.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, RecoveryCodesResponse{RecoveryCodes: codes})
}

// DisableTOTPRequest confirms turning TOTP off: the password and a second factor.
type DisableTOTPRequest struct {
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
	// Code is the authenticator app's current code; leave out recovery_code when you send it.
	Code string `json:"code,omitempty" validate:"required_without=RecoveryCode,excluded_with=RecoveryCode,max=16" example:"123456"`
	// RecoveryCode is one of the recovery codes, instead of code.
	RecoveryCode string `json:"recovery_code,omitempty" validate:"max=64"`
} // @name DisableTOTPRequest

func (r *DisableTOTPRequest) normalize() {
	r.Code, r.RecoveryCode = strings.TrimSpace(r.Code), strings.TrimSpace(r.RecoveryCode)
}

// disableTOTP godoc
//
//	@ID				disableTOTP
//	@Summary		Turn TOTP off
//	@Description	Needs the current password and a code (or a recovery code). The secret and the recovery codes are removed.
//	@Tags			mfa
//	@Accept			json
//	@Produce		json
//	@Param			body	body	DisableTOTPRequest	true	"The password, and code or recovery_code"
//	@Success		204
//	@Failure		400	{object}	problem.Error	"validation_failed"
//	@Failure		401	{object}	problem.Error	"invalid_credentials, invalid_mfa_code"
//	@Failure		409	{object}	problem.Error	"mfa_not_enabled"
//	@Failure		413	{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415	{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429	{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/mfa/totp [delete]
func (h *Me) disableTOTP(c echo.Context) error {
	req, err := decode[DisableTOTPRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	err = h.Accounts.DisableTOTP(c.Request().Context(), me, req.Password,
		accounts.SecondFactor{Code: req.Code, RecoveryCode: req.RecoveryCode})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// RegenerateCodesRequest confirms a new set of recovery codes: the password and a TOTP code.
type RegenerateCodesRequest struct {
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
	Code     string `json:"code" validate:"required,max=16" example:"123456"`
} // @name RegenerateCodesRequest

func (r *RegenerateCodesRequest) normalize() { r.Code = strings.TrimSpace(r.Code) }

// regenerateRecoveryCodes godoc
//
//	@ID				regenerateRecoveryCodes
//	@Summary		Replace the recovery codes
//	@Description	Needs the current password and a code from the authenticator app. Returns 10 new recovery codes, shown only this once; the old ones stop working.
//	@Tags			mfa
//	@Accept			json
//	@Produce		json
//	@Param			body	body		RegenerateCodesRequest	true	"The password and a current code"
//	@Success		200		{object}	RecoveryCodesResponse
//	@Failure		400		{object}	problem.Error	"validation_failed"
//	@Failure		401		{object}	problem.Error	"invalid_credentials, invalid_mfa_code"
//	@Failure		409		{object}	problem.Error	"mfa_not_enabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/mfa/recovery-codes [post]
func (h *Me) regenerateRecoveryCodes(c echo.Context) error {
	req, err := decode[RegenerateCodesRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	codes, err := h.Accounts.RegenerateRecoveryCodes(c.Request().Context(), me, req.Password, req.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, RecoveryCodesResponse{RecoveryCodes: codes})
}

// resetUserMFA godoc
//
//	@ID				resetUserMFA
//	@Summary		Remove a user's second factors
//	@Description	For a user who lost every factor: removes the user's TOTP secret, recovery codes and passkeys, and revokes the user's sessions. Needs users:write. Only administrators act on administrators. Not on the caller's own id (403 self_service_required): use /v1/me/mfa and /v1/me/passkeys.
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden; self_service_required (the caller's own id)"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/mfa [delete]
func (h *Users) resetUserMFA(c echo.Context) error {
	return actOnUser(c, h.Accounts, policy.ResetUserFactors, h.Accounts.ResetMFA)
}
