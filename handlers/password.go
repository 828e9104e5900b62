package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

func registerPasswordReset(e *echo.Echo, d Deps) {
	e.POST("/v1/auth/password/forgot", forgotPassword(d))
	e.POST("/v1/auth/password/reset", resetPassword(d))
}

// resetTokenPurpose keys the MAC under which reset tokens are stored.
const resetTokenPurpose = "reset-token"

// maxResetToken bounds what is worth looking up: ours are 43 characters.
const maxResetToken = 256

var errInvalidResetToken = problem.BadRequest("invalid_token",
	"The reset link is unknown, already used, expired or replaced by a newer one; ask for a new link.")

// forgotAccepted is the one answer to every well-formed forgot request.
var forgotAccepted = MessageResponse{
	Message: "If an account uses this address, a link to reset its password has been sent to it.",
}

// ForgotPasswordRequest asks for a password-reset link by mail.
type ForgotPasswordRequest struct {
	Email string `json:"email" validate:"required,max=254,email" example:"ada@example.com"`
} // @name ForgotPasswordRequest

func (r *ForgotPasswordRequest) normalize() { r.Email = normalizeEmail(r.Email) }

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
//	@Router			/v1/auth/password/forgot [post]
func forgotPassword(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[ForgotPasswordRequest](c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		u, err := d.Store.UserRowByLogin(ctx, req.Email)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return dbFailure(err)
		}
		p := planReset(d, u, req.Email)
		if p.err != nil {
			d.Log.ErrorContext(ctx, "reset mail cannot be queued", "user_id", p.userID, "error", p.err)
		}
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			// Both paths run this statement; for nobody it only purges expired tokens.
			if err := tx.SupersedeResetTokens(ctx, p.userID, p.now); err != nil {
				return err
			}
			if p.send {
				if err := tx.CreateResetToken(ctx, &p.token); err != nil {
					return err
				}
				if err := tx.EnqueueMail(ctx, p.mail); err != nil {
					return err
				}
			} else if err := tx.ResetDecoy(ctx, p.token.ID, p.mail.ID); err != nil { // as many statements, so about as long
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.PasswordResetRequest, p.now, uuid.Nil, p.userID, clientOf(c), p.details))
		})
		if err != nil {
			return dbFailure(err)
		}
		if p.send && d.Mail != nil {
			d.Mail.Wake()
		}
		return c.JSON(http.StatusAccepted, forgotAccepted)
	}
}

// resetPlan is what a forgot request writes. It is built with the same work
// (a token, its MAC, a sealed mail) whether or not the account exists, so that
// the two answers take about the same time.
type resetPlan struct {
	now     time.Time
	userID  uuid.UUID // uuid.Nil: no such account
	send    bool      // write the token and queue the mail
	token   models.PasswordResetToken
	mail    models.OutboxMail
	details audit.Details
	err     error // the mail could not be built for an existing account
}

func planReset(d Deps, u *models.User, requested string) resetPlan {
	p := resetPlan{now: d.Now()}
	to := requested
	if u != nil {
		p.userID, to = u.ID, u.Email
	}
	plain := secret.Token()
	p.token = models.PasswordResetToken{
		ID: uuid.Must(uuid.NewV7()), UserID: p.userID,
		TokenHash: d.Secret.MAC(resetTokenPurpose, []byte(plain)),
		CreatedAt: p.now, ExpiresAt: p.now.Add(d.Config.ResetTokenTTL),
	}
	msg := mail.ResetMessage(to, d.Config.PublicURL, plain, d.Config.ResetTokenTTL)
	p.mail, p.err = mail.NewOutboxMail(d.Secret, msg, p.now)
	switch {
	case u == nil:
		p.err = nil // nothing is sent to an address nobody registered
		p.details = audit.Details{"mail": "not_sent", "reason": "unknown_email"}
	case u.Status == models.StatusDisabled:
		p.err = nil // nor to a banned account
		p.details = audit.Details{"mail": "not_sent", "reason": "account_disabled"}
	case p.err != nil:
		p.details = audit.Details{"mail": "not_sent", "reason": "undeliverable_address"}
	default:
		p.send = true
		p.details = audit.Details{"mail": "queued", "expires_at": p.token.ExpiresAt}
	}
	return p
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
//	@Router			/v1/auth/password/reset [post]
func resetPassword(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[ResetPasswordRequest](c)
		if err != nil {
			return err
		}
		ctx, now := c.Request().Context(), d.Now()
		if len(req.Token) > maxResetToken {
			return errInvalidResetToken
		}
		rt, err := d.Store.ResetTokenByHash(ctx, d.Secret.MAC(resetTokenPurpose, []byte(req.Token)))
		if errors.Is(err, store.ErrNotFound) {
			return errInvalidResetToken
		}
		if err != nil {
			return dbFailure(err)
		}
		if rt.UsedAt != nil || !now.Before(rt.ExpiresAt) {
			return errInvalidResetToken
		}
		acct, err := d.Store.UserByID(ctx, rt.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return errInvalidResetToken
		}
		if err != nil {
			return dbFailure(err)
		}
		if acct.Status == models.StatusDisabled {
			return errAccountDisabled
		}
		// A weak password does not use the token up: the user tries another.
		if err := checkPassword(d, "new_password", req.NewPassword, acct.Email, acct.Username, acct.FirstName, acct.LastName); err != nil {
			return err
		}
		hash, err := d.Hasher.Hash(req.NewPassword)
		if err != nil {
			return problem.Internal(err)
		}
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			ok, err := tx.UseResetToken(ctx, rt.ID, now)
			if err != nil {
				return err
			}
			if !ok { // a concurrent reset with the same token won
				return errInvalidResetToken
			}
			// Proving control of the mailbox also lifts a login lockout.
			if err := tx.UpdateUser(ctx, acct.ID, now, map[string]any{
				"password_hash": hash, "failed_logins": 0, "lock_count": 0, "locked_until": nil,
			}); err != nil {
				return err
			}
			if err := tx.DeleteResetTokens(ctx, acct.ID, rt.ID); err != nil {
				return err
			}
			ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{acct.ID}, Reason: "password_reset"})
			if err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.PasswordReset, now, acct.ID, acct.ID, clientOf(c),
				audit.Details{"sessions_revoked": len(ids)}))
		})
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusOK, MessageResponse{Message: "Your password has been reset and every session ended. Log in with the new password."})
	}
}
