package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// Me serves the signed-in user's own account.
type Me struct {
	Accounts *accounts.Service
	Store    *store.Store // the caller's account and sessions
	Now      func() time.Time
}

// actor is the signed-in caller, as the account rules see it: a user's
// session, a personal access token or a service client.
func actor(c echo.Context) (accounts.Actor, error) {
	p, err := middleware.Principal(c)
	if err != nil {
		return accounts.Actor{}, err
	}
	return accounts.Actor{Principal: p, Client: clientOf(c)}, nil
}

// sessionOnly guards what only a user's own session may do (manage its
// tokens, sessions, password, email, factors, identities, or delete the
// account): personal access tokens and service tokens get 403 session_required.
func sessionOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := middleware.Principal(c)
		if err != nil {
			return err
		}
		if err := policy.RequireSession(p); err != nil {
			return err
		}
		return next(c)
	}
}

// actorFor is the signed-in caller, once the policy lets it perform op: a
// caller who may not is refused before its request's body or query is read.
// The operation itself asks again (the command line calls it directly).
func actorFor(c echo.Context, a *accounts.Service, op policy.Operation) (accounts.Actor, error) {
	by, err := actor(c)
	if err != nil {
		return by, err
	}
	return by, a.Authorize(by, op)
}

// actorForID is actorFor, then the id the path's "id" names (notFound for
// one that is not a UUID): the first steps of every handler of one resource.
func actorForID(c echo.Context, a *accounts.Service, op policy.Operation, notFound error) (accounts.Actor, uuid.UUID, error) {
	by, err := actorFor(c, a, op)
	if err != nil {
		return by, uuid.Nil, err
	}
	id, err := pathUUID(c, "id", notFound)
	return by, id, err
}

// trimSpaces trims each string that is set: the normalize step of optional fields.
func trimSpaces(ps ...*string) {
	for _, p := range ps {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
}

// getMe godoc
//
//	@ID				getMe
//	@Summary		The signed-in user's profile
//	@Description	The full profile, and how the caller's session was authenticated (amr, RFC 8176; idp when through an external identity provider).
//	@Tags			me
//	@Produce		json
//	@Success		200	{object}	MeResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"session_required: a service token has no user"
//	@Security		BearerAuth
//	@Router			/v1/me [get]
func (h *Me) getMe(c echo.Context) error {
	acct, err := middleware.Account(c)
	if err != nil {
		return err
	}
	claims := middleware.Claims(c)
	return c.JSON(http.StatusOK, MeResponse{User: userView(acct, h.Now()), AMR: orEmpty(claims.AMR), IDP: claims.IDP})
}

// MeResponse is the caller's own profile and how its session was authenticated.
type MeResponse struct {
	User User `json:"user"`
	// AMR is how the session was authenticated (RFC 8176): ["pwd"], ["pwd",
	// "otp", "mfa"], ["pwd", "mfa"], ["hwk", "user"], ["fed"] or ["fed", "otp", "mfa"].
	AMR []string `json:"amr" example:"pwd"`
	// IDP is the external identity provider the session was opened with; absent for none.
	IDP string `json:"idp,omitempty" example:"github"`
} // @name MeResponse

// UpdateMeRequest changes the caller's own profile; absent fields stay as they
// are. Roles, status and resources are not accepted here.
type UpdateMeRequest struct {
	Email     *string `json:"email,omitempty" validate:"omitnil,max=254,email,mailbox" example:"ada@example.com"`
	Username  *string `json:"username,omitempty" validate:"omitnil,username" example:"ada"`
	FirstName *string `json:"first_name,omitempty" validate:"omitnil,max=100" example:"Ada"`
	LastName  *string `json:"last_name,omitempty" validate:"omitnil,max=100" example:"Lovelace"`
	// Password is the current password, required when the email changes.
	Password string `json:"password,omitempty" validate:"max=1024" example:"correct horse battery staple"`
} // @name UpdateMeRequest

func (r *UpdateMeRequest) normalize() {
	trim := func(p *string, f func(string) string) {
		if p != nil {
			*p = f(*p)
		}
	}
	trim(r.Email, mailaddr.ASCII)
	trim(r.Username, strings.TrimSpace)
	trim(r.FirstName, strings.TrimSpace)
	trim(r.LastName, strings.TrimSpace)
}

// updateMe godoc
//
//	@ID				updateMe
//	@Summary		Change the signed-in user's profile
//	@Description	Any of email, username, first_name, last_name; absent fields are kept. A new email needs the current password in the same body. Roles, status and resources cannot be set here (400). A new email ends the reset links already mailed.
//	@Tags			me
//	@Accept			json
//	@Produce		json
//	@Param			body	body		UpdateMeRequest	true	"The fields to change"
//	@Success		200		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		401		{object}	problem.Error	"invalid_credentials (a new email without the right password)"
//	@Failure		403		{object}	problem.Error	"password_not_set: an account made by a provider sets a password first; session_required: a service token, or a new email with a personal access token"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me [patch]
func (h *Me) updateMe(c echo.Context) error {
	req, err := decode[UpdateMeRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	acct, err := h.Accounts.UpdateProfile(c.Request().Context(), me, accounts.ProfileChanges{
		Email: req.Email, Username: req.Username, FirstName: req.FirstName, LastName: req.LastName,
		Password: req.Password,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, UserResponse{User: userView(acct, h.Now())})
}

// DeleteMeRequest confirms the deletion of the caller's account.
type DeleteMeRequest struct {
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
} // @name DeleteMeRequest

// deleteMe godoc
//
//	@ID				deleteMe
//	@Summary		Delete the signed-in user's account
//	@Description	Needs the current password. The account and every session are removed; the sessions are revoked first, so gateways see them in the revocation feed.
//	@Tags			me
//	@Accept			json
//	@Produce		json
//	@Param			body	body	DeleteMeRequest	true	"The current password"
//	@Success		204
//	@Failure		400	{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		401	{object}	problem.Error	"invalid_credentials"
//	@Failure		403	{object}	problem.Error	"password_not_set: an account made by a provider sets a password first; session_required: personal access tokens and service tokens cannot do this"
//	@Failure		409	{object}	problem.Error	"last_admin"
//	@Failure		413	{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415	{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429	{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me [delete]
func (h *Me) deleteMe(c echo.Context) error {
	req, err := decode[DeleteMeRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.DeleteSelf(c.Request().Context(), me, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ChangePasswordRequest replaces the caller's password.
type ChangePasswordRequest struct {
	OldPassword string `json:"old_password" validate:"required,max=1024" example:"correct horse battery staple"`
	NewPassword string `json:"new_password" validate:"required" example:"violet harbor tunnel 58"`
} // @name ChangePasswordRequest

// changePassword godoc
//
//	@ID				changePassword
//	@Summary		Change the signed-in user's password
//	@Description	Needs the current password. Every session of the user is revoked, this one included: the client logs in again with the new password.
//	@Tags			me
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ChangePasswordRequest	true	"The current and the new password"
//	@Success		200		{object}	MessageResponse
//	@Failure		400		{object}	problem.Error	"validation_failed (policy, or the same as the old), malformed_json"
//	@Failure		401		{object}	problem.Error	"invalid_credentials"
//	@Failure		403		{object}	problem.Error	"password_not_set: an account made by a provider sets a password first (forgot-password); session_required: personal access tokens and service tokens cannot do this"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me/password [post]
func (h *Me) changePassword(c echo.Context) error {
	req, err := decode[ChangePasswordRequest](c)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.ChangePassword(c.Request().Context(), me, req.OldPassword, req.NewPassword); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, MessageResponse{Message: "Password changed. Every session has ended; log in again with the new password."})
}

// listMySessions godoc
//
//	@ID				listMySessions
//	@Summary		The signed-in user's live sessions
//	@Description	Sessions neither revoked nor expired, newest first; current marks the caller's own.
//	@Tags			me
//	@Produce		json
//	@Success		200	{object}	SessionsResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/sessions [get]
func (h *Me) listMySessions(c echo.Context) error {
	list, err := h.Store.LiveSessions(c.Request().Context(), middleware.UserID(c), h.Now())
	if err != nil {
		return err
	}
	current := middleware.SessionID(c)
	return c.JSON(http.StatusOK, sessionsView(list, func(s *models.Session) bool { return s.ID == current }))
}

// revokeMySession godoc
//
//	@ID				revokeMySession
//	@Summary		End one of the signed-in user's sessions
//	@Description	Revokes a live session of the caller (the current one too, like logout). Another user's session, or an unknown, ended or expired one, is 404 alike.
//	@Tags			me
//	@Produce		json
//	@Param			id	path	string	true	"Session id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		404	{object}	problem.Error	"session_not_found"
//	@Failure		403	{object}	problem.Error	"session_required: personal access tokens and service tokens cannot do this"
//	@Security		BearerAuth
//	@Router			/v1/me/sessions/{id} [delete]
func (h *Me) revokeMySession(c echo.Context) error {
	sid, err := pathUUID(c, "id", accounts.ErrSessionNotFound)
	if err != nil {
		return err
	}
	me, err := actor(c)
	if err != nil {
		return err
	}
	if err := h.Accounts.RevokeOwnSession(c.Request().Context(), me, sid, middleware.SessionID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
