package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
)

func registerMe(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {
	e.GET("/v1/me", getMe(d), auth)
	e.PATCH("/v1/me", updateMe(d), auth)
	e.DELETE("/v1/me", deleteMe(d), auth)
	e.POST("/v1/me/password", changePassword(d), auth)
	e.GET("/v1/me/sessions", listMySessions(d), auth)
	e.DELETE("/v1/me/sessions/:id", revokeMySession(d), auth)
}

var (
	errMySessionNotFound = problem.NotFound("session_not_found", "No such session.")
	errSelfLastAdmin     = problem.Conflict("last_admin", "This is the last active administrator; make another one first.")
)

// getMe godoc
//
//	@ID				getMe
//	@Summary		The signed-in user's profile
//	@Tags			me
//	@Produce		json
//	@Success		200	{object}	UserResponse
//	@Failure		401	{object}	problem.Error
//	@Security		BearerAuth
//	@Router			/v1/me [get]
func getMe(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		acct, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, UserResponse{User: userView(acct, d.Now())})
	}
}

// UpdateMeRequest changes the caller's own profile; absent fields stay as they
// are. Roles, status and resources are not accepted here.
type UpdateMeRequest struct {
	Email     *string `json:"email,omitempty" validate:"omitnil,max=254,email" example:"ada@example.com"`
	Username  *string `json:"username,omitempty" validate:"omitnil,username" example:"ada"`
	FirstName *string `json:"first_name,omitempty" validate:"omitnil,max=100" example:"Ada"`
	LastName  *string `json:"last_name,omitempty" validate:"omitnil,max=100" example:"Lovelace"`
} // @name UpdateMeRequest

func (r *UpdateMeRequest) normalize() {
	trim := func(p *string, f func(string) string) {
		if p != nil {
			*p = f(*p)
		}
	}
	trim(r.Email, normalizeEmail)
	trim(r.Username, strings.TrimSpace)
	trim(r.FirstName, strings.TrimSpace)
	trim(r.LastName, strings.TrimSpace)
}

// changes lists the columns whose value the request changes, and their JSON names.
func (r *UpdateMeRequest) changes(u *models.User) (map[string]any, []string) {
	cols := map[string]any{}
	var names []string
	set := func(name string, v *string, cur string) {
		if v != nil && *v != cur {
			cols[name] = *v
			names = append(names, name)
		}
	}
	set("email", r.Email, u.Email)
	set("username", r.Username, u.Username)
	set("first_name", r.FirstName, u.FirstName)
	set("last_name", r.LastName, u.LastName)
	return cols, names
}

// updateMe godoc
//
//	@ID				updateMe
//	@Summary		Change the signed-in user's profile
//	@Description	Any of email, username, first_name, last_name; absent fields are kept. Roles, status and resources cannot be set here (400).
//	@Tags			me
//	@Accept			json
//	@Produce		json
//	@Param			body	body		UpdateMeRequest	true	"The fields to change"
//	@Success		200		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, malformed_json"
//	@Failure		401		{object}	problem.Error
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken"
//	@Security		BearerAuth
//	@Router			/v1/me [patch]
func updateMe(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[UpdateMeRequest](c)
		if err != nil {
			return err
		}
		ctx, now, id := c.Request().Context(), d.Now(), middleware.UserID(c)
		var acct *store.Account
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			cur, err := tx.UserByID(ctx, id)
			if err != nil {
				return err
			}
			cols, names := req.changes(&cur.User)
			if len(cols) == 0 {
				acct = cur
				return nil
			}
			if err := tx.UpdateUser(ctx, id, now, cols); err != nil {
				return err
			}
			// Field names only: the values are personal data.
			if err := tx.AddAudit(ctx, audit.Event(audit.UserUpdated, now, id, id, clientOf(c),
				audit.Details{"fields": names})); err != nil {
				return err
			}
			acct, err = tx.UserByID(ctx, id)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return problem.ErrRevoked // deleted since the token was checked
		}
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusOK, UserResponse{User: userView(acct, now)})
	}
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
//	@Failure		409	{object}	problem.Error	"last_admin"
//	@Security		BearerAuth
//	@Router			/v1/me [delete]
func deleteMe(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[DeleteMeRequest](c)
		if err != nil {
			return err
		}
		acct, err := meWithPassword(c, d, req.Password)
		if err != nil {
			return err
		}
		ctx, now := c.Request().Context(), d.Now()
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			var revoked []uuid.UUID
			err := tx.GuardLastAdmin(ctx, func() error {
				var err error
				// Revoke before the cascade deletes the rows, so the feed lists them.
				if revoked, err = d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{acct.ID}, Reason: "user_deleted"}); err != nil {
					return err
				}
				return tx.DeleteUser(ctx, acct.ID)
			})
			if err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.UserDeleted, now, acct.ID, acct.ID, clientOf(c),
				audit.Details{"self": true, "sessions_revoked": len(revoked)}))
		})
		switch {
		case errors.Is(err, store.ErrLastAdmin):
			return errSelfLastAdmin
		case errors.Is(err, store.ErrNotFound):
			return problem.ErrRevoked // deleted concurrently
		case err != nil:
			return storeError(err)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// meWithPassword loads the caller and checks its password: 401 invalid_credentials when wrong.
func meWithPassword(c echo.Context, d Deps, pw string) (*store.Account, error) {
	acct, err := middleware.Account(c, d.Store)
	if err != nil {
		return nil, err
	}
	ok, _, err := d.Hasher.Verify(acct.PasswordHash, pw)
	if err != nil {
		d.Log.ErrorContext(c.Request().Context(), "stored password hash unreadable", "user_id", acct.ID, "error", err)
	}
	if !ok {
		return nil, errInvalidCredentials
	}
	return acct, nil
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
//	@Security		BearerAuth
//	@Router			/v1/me/password [post]
func changePassword(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[ChangePasswordRequest](c)
		if err != nil {
			return err
		}
		acct, err := meWithPassword(c, d, req.OldPassword)
		if err != nil {
			return err
		}
		if req.NewPassword == req.OldPassword {
			return problem.Invalid(problem.FieldError{Field: "new_password", Message: "must differ from the current password"})
		}
		if err := checkPassword(d, "new_password", req.NewPassword, acct.Email, acct.Username, acct.FirstName, acct.LastName); err != nil {
			return err
		}
		hash, err := d.Hasher.Hash(req.NewPassword)
		if err != nil {
			return problem.Internal(err)
		}
		ctx, now := c.Request().Context(), d.Now()
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			if err := tx.UpdateUser(ctx, acct.ID, now, map[string]any{"password_hash": hash}); err != nil {
				return err
			}
			// A reset link mailed before the change must not undo it.
			if err := tx.DeleteResetTokens(ctx, acct.ID, uuid.Nil); err != nil {
				return err
			}
			ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{acct.ID}, Reason: "password_changed"})
			if err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.PasswordChanged, now, acct.ID, acct.ID, clientOf(c),
				audit.Details{"sessions_revoked": len(ids)}))
		})
		if errors.Is(err, store.ErrNotFound) {
			return problem.ErrRevoked
		}
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusOK, MessageResponse{Message: "Password changed. Every session has ended; log in again with the new password."})
	}
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
//	@Security		BearerAuth
//	@Router			/v1/me/sessions [get]
func listMySessions(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		list, err := d.Store.LiveSessions(c.Request().Context(), middleware.UserID(c), d.Now())
		if err != nil {
			return dbFailure(err)
		}
		current := middleware.SessionID(c)
		return c.JSON(http.StatusOK, sessionsView(list, func(s *models.Session) bool { return s.ID == current }))
	}
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
//	@Security		BearerAuth
//	@Router			/v1/me/sessions/{id} [delete]
func revokeMySession(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		sid, err := pathUUID(c, "id", errMySessionNotFound)
		if err != nil {
			return err
		}
		ctx, now, uid := c.Request().Context(), d.Now(), middleware.UserID(c)
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			sess, err := tx.LockSession(ctx, sid)
			if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != uid) {
				return errMySessionNotFound
			}
			if err != nil {
				return err
			}
			ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{SessionID: sid, Reason: "revoked_by_user"})
			if err != nil {
				return err
			}
			if len(ids) == 0 { // already revoked or expired
				return errMySessionNotFound
			}
			return tx.AddAudit(ctx, audit.Event(audit.SessionsRevoked, now, uid, uid, clientOf(c),
				audit.Details{"session_id": sid, "sessions_revoked": len(ids), "current": sid == middleware.SessionID(c)}))
		})
		if err != nil {
			return storeError(err)
		}
		return c.NoContent(http.StatusNoContent)
	}
}
