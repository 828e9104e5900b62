package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/mailaddr"
)

// VerifyEmailRequest uses the token of a verification or address-change link.
type VerifyEmailRequest struct {
	Token string `json:"token" validate:"required,max=256" example:"hD3k2x0m1Yv3bq8R2m1lC0nq4fQ0pY3kZb6oT0sWq8E"`
} // @name VerifyEmailRequest

func (r *VerifyEmailRequest) normalize() { r.Token = strings.TrimSpace(r.Token) }

// verifyEmail godoc
//
//	@ID				verifyEmail
//	@Summary		Confirm an email address
//	@Description	The token comes from the link PUBLIC_URL/verify-email?token=… mailed at signup (or by resend), or to the new address of an email change. The address is then verified, or the pending address becomes the account's. No Bearer token needed: the link may open on another device. A token works once, until it expires (VERIFY_TOKEN_TTL) or a newer link replaces it.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		VerifyEmailRequest	true	"The link's token"
//	@Success		200		{object}	PublicUserResponse
//	@Failure		400		{object}	problem.Error	"invalid_token, validation_failed"
//	@Failure		409		{object}	problem.Error	"email_taken: another account took the address meanwhile"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security
//	@Router			/v1/auth/email/verify [post]
func (h *Auth) verifyEmail(c echo.Context) error {
	req, err := decode[VerifyEmailRequest](c)
	if err != nil {
		return err
	}
	acct, err := h.Accounts.VerifyEmail(c.Request().Context(), req.Token, clientOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, PublicUserResponse{User: publicUserView(&acct.User)})
}

// resendAccepted is the one answer to every well-formed resend request.
var resendAccepted = MessageResponse{
	Message: "If an account with this address awaits verification, a new link has been sent to it.",
}

// ResendVerificationRequest asks for a new verification link.
type ResendVerificationRequest struct {
	Email string `json:"email" validate:"required,max=254,email,mailbox" example:"ada@example.com"`
} // @name ResendVerificationRequest

func (r *ResendVerificationRequest) normalize() { r.Email = mailaddr.ASCII(r.Email) }

// resendVerification godoc
//
//	@ID				resendVerification
//	@Summary		Send a new verification link
//	@Description	Always 202 with the same body, in about the same time, whether or not the address belongs to an account awaiting verification. When it does, a new link is mailed and older ones stop working. At most MAIL_RATE_LIMIT mails per address; beyond that the answer is the same and nothing is sent.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ResendVerificationRequest	true	"The account's email address"
//	@Success		202		{object}	MessageResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security
//	@Router			/v1/auth/email/resend [post]
func (h *Auth) resendVerification(c echo.Context) error {
	req, err := decode[ResendVerificationRequest](c)
	if err != nil {
		return err
	}
	if err := h.Accounts.ResendVerification(c.Request().Context(), req.Email, clientOf(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, resendAccepted)
}
