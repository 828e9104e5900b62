package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/mailaddr"
)

// forgotAccepted is the one answer to every well-formed forgot request.
var forgotAccepted = MessageResponse{
	Message: "If an account uses this address, a link to reset its password has been sent to it.",
}

// ForgotPasswordRequest asks for a password-reset link by mail.
type ForgotPasswordRequest struct {
	Email string `json:"email" validate:"required,max=254,email,mailbox" example:"ada@example.com"`
} // @name ForgotPasswordRequest

func (r *ForgotPasswordRequest) normalize() { r.Email = mailaddr.ASCII(r.Email) }

// forgotPassword godoc
//
//	@ID				forgotPassword
//	@Summary		Ask for a password-reset link
//	@Description	Always 202 with the same body, in about the same time, whether or not an account uses the address, so the answer reveals nothing. The mail is sent in the background. Disabled accounts get no mail. A new request invalidates the account's earlier links; a link expires after RESET_TOKEN_TTL.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ForgotPasswordRequest	true	"The account's email address"
//	@Success		202		{object}	MessageResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		413		{object}	problem.Error
//	@Failure		415		{object}	problem.Error
//	@Security
//	@Router			/v1/auth/password/forgot [post]
func (h *Auth) forgotPassword(c echo.Context) error {
	req, err := decode[ForgotPasswordRequest](c)
	if err != nil {
		return err
	}
	if err := h.Accounts.RequestReset(c.Request().Context(), req.Email, clientOf(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, forgotAccepted)
}

// ResetPasswordRequest sets a new password with the token from a reset mail.
type ResetPasswordRequest struct {
	Token       string `json:"token" validate:"required" example:"hD3k2x0m1Yv3bq8R2m1lC0nq4fQ0pY3kZb6oT0sWq8E"`
	NewPassword string `json:"new_password" validate:"required" example:"correct horse battery staple"`
} // @name ResetPasswordRequest

// resetPassword godoc
//
//	@ID				resetPassword
//	@Summary		Set a new password with a reset token
//	@Description	The token comes from the link in the reset mail. It works once, until it expires or a newer one is requested. Every session of the user is revoked; the user logs in with the new password.
//	@Tags			auth
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ResetPasswordRequest	true	"The token and the new password"
//	@Success		200		{object}	MessageResponse
//	@Failure		400		{object}	problem.Error	"invalid_token, validation_failed (the new password breaks the policy), malformed_json"
//	@Failure		403		{object}	problem.Error	"account_disabled"
//	@Failure		413		{object}	problem.Error
//	@Failure		415		{object}	problem.Error
//	@Security
//	@Router			/v1/auth/password/reset [post]
func (h *Auth) resetPassword(c echo.Context) error {
	req, err := decode[ResetPasswordRequest](c)
	if err != nil {
		return err
	}
	if err := h.Accounts.ResetPassword(c.Request().Context(), req.Token, req.NewPassword, clientOf(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, MessageResponse{Message: "Your password has been reset and every session ended. Log in with the new password."})
}
