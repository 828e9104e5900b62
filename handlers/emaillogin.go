package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
)

// emailCodeAccepted is the one answer to every well-formed code request.
var emailCodeAccepted = MessageResponse{
	Message: "If this address may sign in, a code and a link to sign in have been sent to it.",
}

// EmailCodeRequest asks for a sign-in code by mail.
type EmailCodeRequest struct {
	Email string `json:"email" validate:"required,max=254,email,mailbox" example:"ada@example.com"`
	// Create lets the code make an account for an address that has none
	// (only with EMAIL_LOGIN_SIGNUP).
	Create bool `json:"create,omitempty" example:"false"`
} // @name EmailCodeRequest

func (r *EmailCodeRequest) normalize() { r.Email = mailaddr.ASCII(r.Email) }

// requestEmailCode godoc
//
//	@ID				requestEmailCode
//	@Summary		Ask for a sign-in code and link by mail
//	@Description	Passwordless sign-in (EMAIL_LOGIN). Always 202 with the same body, in about the same time, whatever the address: for an account that may log in (or, with create and EMAIL_LOGIN_SIGNUP, an address no account has) an 8-digit code and a link PUBLIC_URL/magic-link?token=… are mailed, both single use for EMAIL_CODE_TTL; a newer request kills the older code and link. MAIL_RATE_LIMIT applies per address.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		EmailCodeRequest	true	"The address"
//	@Success		202		{object}	MessageResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		404		{object}	problem.Error	"email_login_disabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security
//	@Router			/v1/auth/email/code [post]
func (h *Auth) requestEmailCode(c echo.Context) error {
	req, err := decode[EmailCodeRequest](c)
	if err != nil {
		return err
	}
	if err := h.Accounts.RequestEmailCode(c.Request().Context(), req.Email, req.Create, clientOf(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, emailCodeAccepted)
}

// VerifyEmailCodeRequest signs in with a mailed code and its address, or with the link's token.
type VerifyEmailCodeRequest struct {
	Email string `json:"email,omitempty" validate:"omitempty,max=254,email" example:"ada@example.com"`
	Code  string `json:"code,omitempty" validate:"omitempty,len=8,numeric" example:"04719382"`
	// Token is the link's token (the magic-link page posts it).
	Token    string `json:"token,omitempty" validate:"omitempty,max=256" example:"hD3k2x0m1Yv3bq8R2m1lC0nq4fQ0pY3kZb6oT0sWq8E"`
	Remember bool   `json:"remember,omitempty" example:"false"`
} // @name VerifyEmailCodeRequest

func (r *VerifyEmailCodeRequest) normalize() {
	r.Email, r.Code, r.Token = mailaddr.ASCII(r.Email), strings.TrimSpace(r.Code), strings.TrimSpace(r.Token)
}

// verifyEmailCode godoc
//
//	@ID				verifyEmailCode
//	@Summary		Sign in with a mailed code or link
//	@Description	email and code, or the link's token (the page at the link posts it: opening a link consumes nothing, so mail scanners cannot use it up). The token response (amr ["email"]), or mfa_required when TOTP is on; the address is verified. A first proof of an address that was not verified ends what was set up before it (a password, passkeys, linked identities, sessions): an account made with someone else's address is not kept by its maker. A wrong code counts toward the account's lockout, and 5 kill the code. Cookie mode applies.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		VerifyEmailCodeRequest	true	"The code and address, or the token"
//	@Success		200		{object}	LoginResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		401		{object}	problem.Error	"invalid_code: wrong, used or expired"
//	@Failure		403		{object}	problem.Error	"account_pending, account_disabled; signup_denied: the signup hook refused a sign-up code, its reason in detail"
//	@Failure		404		{object}	problem.Error	"email_login_disabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts (Retry-After), rate_limited"
//	@Failure		503		{object}	problem.Error	"hook_failed: the signup or token hook failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/email/code/verify [post]
func (h *Auth) verifyEmailCode(c echo.Context) error {
	req, err := decode[VerifyEmailCodeRequest](c)
	if err != nil {
		return err
	}
	switch {
	case req.Token != "" && (req.Email != "" || req.Code != ""):
		return problem.Invalid(problem.FieldError{Field: "token", Message: "must be sent alone, without email and code"})
	case req.Token == "" && req.Email == "":
		return problem.Invalid(problem.FieldError{Field: "email", Message: "is required (with code), unless token is sent"})
	case req.Token == "" && req.Code == "":
		return problem.Invalid(problem.FieldError{Field: "code", Message: "is required with email"})
	}
	s, err := h.Accounts.VerifyEmailCode(c.Request().Context(), accounts.EmailCodeInput{
		Email: req.Email, Code: req.Code, Token: req.Token, Remember: req.Remember,
	}, clientOf(c))
	return h.loginAnswer(c, s, err)
}

// AcceptInviteRequest sets the first password with an invitation's token.
type AcceptInviteRequest struct {
	Token    string `json:"token" validate:"required,max=256" example:"hD3k2x0m1Yv3bq8R2m1lC0nq4fQ0pY3kZb6oT0sWq8E"`
	Password string `json:"password" validate:"required" example:"correct horse battery staple"`
	Remember bool   `json:"remember,omitempty" example:"false"`
} // @name AcceptInviteRequest

// acceptInvite godoc
//
//	@ID				acceptInvite
//	@Summary		Accept an invitation
//	@Description	With the token of the mailed invitation link (PUBLIC_URL/accept-invite?token=…): the password (the policy applies) is set, the address verified, and the user signed in (the token response). Single use, for INVITE_TTL; a newer invitation kills the older.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		AcceptInviteRequest	true	"The token and the new password"
//	@Success		200		{object}	LoginResponse
//	@Failure		400		{object}	problem.Error	"invalid_token, validation_failed (a weak password), malformed_json"
//	@Failure		403		{object}	problem.Error	"account_disabled"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		503		{object}	problem.Error	"overloaded: too many password hashes in progress (Retry-After); hook_failed: the token hook failed with HOOK_FAILURE=closed (Retry-After)"
//	@Security
//	@Router			/v1/auth/invite/accept [post]
func (h *Auth) acceptInvite(c echo.Context) error {
	req, err := decode[AcceptInviteRequest](c)
	if err != nil {
		return err
	}
	s, err := h.Accounts.AcceptInvite(c.Request().Context(), req.Token, req.Password, req.Remember, clientOf(c))
	return h.loginAnswer(c, s, err)
}

// inviteUser godoc
//
//	@ID				inviteUser
//	@Summary		Invite a user (again)
//	@Description	Mails an invitation link (PUBLIC_URL/accept-invite?token=…, single use, INVITE_TTL) to a user who has no password yet; a newer invitation kills the older. Needs users:write and the right to manage the user.
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"	format(uuid)
//	@Success		202	{object}	MessageResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: users:write is required, or the user holds permissions the caller lacks"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Failure		409	{object}	problem.Error	"already_accepted: the user has a password"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/invite [post]
func (h *Users) inviteUser(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.InviteUser)
	if err != nil {
		return err
	}
	id, err := pathUUID(c, "id", accounts.ErrUserNotFound)
	if err != nil {
		return err
	}
	if err := h.Accounts.Invite(c.Request().Context(), by, id); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, MessageResponse{Message: "The invitation has been sent."})
}

// problems of sign-in by email and invitations.
var (
	errEmailLoginDisabled = problem.NotFound("email_login_disabled", "Sign-in by email is off (EMAIL_LOGIN).")
	errInvalidCode        = problem.Unauthorized("invalid_code", "The code or link is wrong, used or expired; ask for a new one.")
	errAlreadyAccepted    = problem.Conflict("already_accepted", "The user has a password already: there is no invitation to send.")
)
