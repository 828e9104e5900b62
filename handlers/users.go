package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
)

// Users serves the administration of users.
type Users struct {
	Accounts *accounts.Service
	Cursors  Cursors
	Now      func() time.Time
}

// UsersResponse is a page of users with their full records.
type UsersResponse struct {
	Users []User `json:"users"`
	// NextCursor fetches the next page; absent on the last one.
	NextCursor string `json:"next_cursor,omitempty" example:"AQGTtsR_PnzBnQ4aKzxNXm8..."`
} // @name UsersResponse

// PublicUsersResponse is a page of the user directory (USER_DIRECTORY_PUBLIC).
type PublicUsersResponse struct {
	Users      []PublicUser `json:"users"`
	NextCursor string       `json:"next_cursor,omitempty"`
} // @name PublicUsersResponse

// PublicUserResponse wraps what any signed-in user may see of another.
type PublicUserResponse struct {
	User PublicUser `json:"user"`
} // @name PublicUserResponse

// CountResponse is a number of users.
type CountResponse struct {
	Count int64 `json:"count" example:"42"`
} // @name CountResponse

// listUsers godoc
//
//	@ID				listUsers
//	@Summary		List users
//	@Description	Keyset-paginated by id, stable under concurrent inserts; follow next_cursor until it is absent. A search (q) that no index serves (on SQLite, or a q without 3 letters or digits in a row) scans a bounded number of users per page: its page may be short, even empty, and still have a next_cursor. Needs users:read. With USER_DIRECTORY_PUBLIC any signed-in user may list, and then sees public fields of active accounts only (PublicUsersResponse), q searches only the public fields, and role/status filters stay reserved to users:read.
//	@Tags			users
//	@Produce		json
//	@Param			limit	query		int		false	"Page size, 1 to 200"	minimum(1)	maximum(200)	default(50)
//	@Param			cursor	query		string	false	"next_cursor of the previous page"
//	@Param			q		query		string	false	"Substring of email, username, first or last name (case-insensitive)"
//	@Param			role	query		string	false	"Only holders of this role"
//	@Param			status	query		string	false	"Only this status"	Enums(pending, active, disabled, locked)
//	@Param			verified	query		bool	false	"Only users whose email is verified (true) or not (false)"
//	@Success		200		{object}	UsersResponse
//	@Failure		400		{object}	problem.Error	"invalid_cursor, validation_failed"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden"
//	@Security		BearerAuth
//	@Router			/v1/users [get]
func (h *Users) listUsers(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ListUsers)
	if err != nil {
		return err
	}
	f, err := h.filter(c)
	if err != nil {
		return err
	}
	limit := f.Limit
	f.Limit++ // one more tells whether another page follows
	page, view, err := h.Accounts.ListUsers(c.Request().Context(), by, f)
	if err != nil {
		return err
	}
	list, next := page.Users, ""
	if len(list) > limit {
		list = list[:limit]
		next = h.Cursors.Encode(list[limit-1].ID)
	} else if page.Next != uuid.Nil { // a bounded search stopped before the end
		next = h.Cursors.Encode(page.Next)
	}
	if view == policy.Public {
		out := PublicUsersResponse{Users: make([]PublicUser, len(list)), NextCursor: next}
		for i, a := range list {
			out.Users[i] = publicUserView(&a.User)
		}
		return c.JSON(http.StatusOK, out)
	}
	now := h.Now()
	out := UsersResponse{Users: make([]User, len(list)), NextCursor: next}
	for i, a := range list {
		out.Users[i] = userView(a, now)
	}
	return c.JSON(http.StatusOK, out)
}

// filter reads the query of GET /v1/users.
func (h *Users) filter(c echo.Context) (store.UserFilter, error) {
	limit, err := pageLimit(c)
	if err != nil {
		return store.UserFilter{}, err
	}
	after, err := h.Cursors.Decode(c.QueryParam("cursor"))
	if err != nil {
		return store.UserFilter{}, err
	}
	f := store.UserFilter{
		Query: strings.TrimSpace(c.QueryParam("q")), Role: c.QueryParam("role"), Status: c.QueryParam("status"),
		Now: h.Now(), After: after, Limit: limit,
	}
	var bad []problem.FieldError
	if utf8.RuneCountInString(f.Query) > 100 {
		bad = append(bad, problem.FieldError{Field: "q", Message: "must be at most 100 characters"})
	}
	if len(f.Role) > 64 {
		bad = append(bad, problem.FieldError{Field: "role", Message: "must be at most 64 characters"})
	}
	if f.Status != "" && !slices.Contains(models.Statuses, f.Status) {
		bad = append(bad, problem.FieldError{Field: "status", Message: "must be one of: " + strings.Join(models.Statuses, ", ")})
	}
	switch v := c.QueryParam("verified"); v {
	case "":
	case "true", "false":
		verified := v == "true"
		f.Verified = &verified
	default:
		bad = append(bad, problem.FieldError{Field: "verified", Message: "must be true or false"})
	}
	if len(bad) > 0 {
		return f, problem.Invalid(bad...)
	}
	return f, nil
}

// countUsers godoc
//
//	@ID				countUsers
//	@Summary		Count users
//	@Description	How many accounts exist, of any status. Any signed-in user may ask.
//	@Tags			users
//	@Produce		json
//	@Success		200	{object}	CountResponse
//	@Failure		401	{object}	problem.Error
//	@Security		BearerAuth
//	@Router			/v1/users/count [get]
func (h *Users) countUsers(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.CountUsers)
	if err != nil {
		return err
	}
	n, err := h.Accounts.CountUsers(c.Request().Context(), by)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, CountResponse{Count: n})
}

// getUser godoc
//
//	@ID				getUser
//	@Summary		Get a user
//	@Description	The full record for the user themself or a holder of users:read (UserResponse); public fields only (id, username, first_name, last_name) for anyone else (PublicUserResponse).
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"	format(uuid)
//	@Success		200	{object}	UserResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id} [get]
func (h *Users) getUser(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ReadUser)
	if err != nil {
		return err
	}
	id, err := pathUUID(c, "id", accounts.ErrUserNotFound)
	if err != nil {
		return err
	}
	target, view, err := h.Accounts.UserFor(c.Request().Context(), by, id)
	if err != nil {
		return err
	}
	if view == policy.Public {
		return c.JSON(http.StatusOK, PublicUserResponse{User: publicUserView(&target.User)})
	}
	return c.JSON(http.StatusOK, UserResponse{User: userView(target, h.Now())})
}

// CreateUserRequest is an account an administrator creates.
type CreateUserRequest struct {
	Email    string `json:"email" validate:"required,max=254,email,mailbox" example:"ada@example.com"`
	Username string `json:"username" validate:"required,username" example:"ada"`
	// Password is required unless invite is true.
	Password string `json:"password,omitempty" validate:"required_without=Invite,excluded_with=Invite" example:"correct horse battery staple"`
	// Invite creates the account without a password and mails it an
	// invitation link (POST /v1/auth/invite/accept sets the password).
	Invite    bool   `json:"invite,omitempty" example:"false"`
	FirstName string `json:"first_name" validate:"max=100" example:"Ada"`
	LastName  string `json:"last_name" validate:"max=100" example:"Lovelace"`
	// Roles default to ["user"] when absent; [] means none.
	Roles []string `json:"roles" validate:"max=20,dive,required,max=64" example:"user" binding:"optional"`
	// Resources are opaque ids the user is granted (carried in access tokens).
	Resources []string `json:"resources" validate:"max=100,dive,required,max=128" example:"assistant-42" binding:"optional"`
	Status    string   `json:"status" validate:"omitempty,oneof=active pending disabled" enums:"active,pending,disabled" example:"active"`
	// EmailVerified starts the account with its address verified (you vouch for it).
	EmailVerified bool `json:"email_verified" example:"false"`
} // @name CreateUserRequest

func (r *CreateUserRequest) normalize() {
	r.Email = mailaddr.ASCII(r.Email)
	r.Username = strings.TrimSpace(r.Username)
	r.FirstName = strings.TrimSpace(r.FirstName)
	r.LastName = strings.TrimSpace(r.LastName)
}

// createUser godoc
//
//	@ID				createUser
//	@Summary		Create a user
//	@Description	Active by default. A caller can only grant roles whose permissions they hold; only admins grant admin. With "invite": true in place of a password, the account has no password and an invitation link is mailed to it at once (POST /v1/auth/invite/accept; INVITE_TTL; POST /v1/users/{id}/invite sends a new one).
//	@Tags			users
//	@Accept			json
//	@Produce		json
//	@Param			body	body		CreateUserRequest	true	"The new user"
//	@Success		201		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_role, weak password"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: users:write is required, or a role beyond the caller's own permissions"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/users [post]
func (h *Users) createUser(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.CreateUser)
	if err != nil {
		return err
	}
	req, err := decode[CreateUserRequest](c)
	if err != nil {
		return err
	}
	acct, err := h.Accounts.Create(c.Request().Context(), by, accounts.CreateInput{
		Profile:  accounts.Profile{Email: req.Email, Username: req.Username, FirstName: req.FirstName, LastName: req.LastName},
		Password: req.Password, Invite: req.Invite, Roles: req.Roles, Resources: req.Resources, Status: req.Status,
		EmailVerified: req.EmailVerified,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, UserResponse{User: userView(acct, h.Now())})
}

// UpdateUserRequest changes a user; absent (or null) fields stay as they are.
type UpdateUserRequest struct {
	Email     *string `json:"email" validate:"omitnil,max=254,email,mailbox" example:"ada@example.com"`
	Username  *string `json:"username" validate:"omitnil,username" example:"ada"`
	FirstName *string `json:"first_name" validate:"omitnil,max=100" example:"Ada"`
	LastName  *string `json:"last_name" validate:"omitnil,max=100" example:"Lovelace"`
	// Password sets a new password (policy applies); the user's sessions are revoked.
	Password *string `json:"password" validate:"omitnil,min=1" example:"correct horse battery staple"`
	// Roles replace the user's roles; a change revokes the user's sessions.
	Roles     *[]string `json:"roles" validate:"omitnil,max=20,dive,required,max=64" example:"user" binding:"optional"`
	Resources *[]string `json:"resources" validate:"omitnil,max=100,dive,required,max=128" example:"assistant-42" binding:"optional"`
	// Status active approves a pending account and unlocks a locked one; disabled bans
	// (and revokes the user's sessions).
	Status *string `json:"status" validate:"omitnil,oneof=active disabled" enums:"active,disabled" example:"active"`
	// EmailVerified marks the address verified or not. A new email applies at
	// once and is unverified unless this is true in the same body.
	EmailVerified *bool `json:"email_verified" example:"true"`
} // @name UpdateUserRequest

func (r *UpdateUserRequest) normalize() {
	trim := func(p **string, f func(string) string) {
		if *p != nil {
			s := f(**p)
			*p = &s
		}
	}
	trim(&r.Email, mailaddr.ASCII)
	trim(&r.Username, strings.TrimSpace)
	trim(&r.FirstName, strings.TrimSpace)
	trim(&r.LastName, strings.TrimSpace)
}

// updateUser godoc
//
//	@ID				updateUser
//	@Summary		Change a user
//	@Description	Any of email, username, names, password, roles, resources, status. A change of roles, password or status revokes the user's sessions. Needs users:write. A caller can only change users whose permissions they hold, and only grant roles whose permissions they hold. On the caller's own id, email, password, status and roles cannot be set (403 self_service_required): use /v1/me.
//	@Tags			users
//	@Accept			json
//	@Produce		json
//	@Param			id		path		string				true	"User id"	format(uuid)
//	@Param			body	body		UpdateUserRequest	true	"The changes"
//	@Success		200		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_role, weak password"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden; self_service_required (email, password, status or roles on the caller's own id)"
//	@Failure		404		{object}	problem.Error	"user_not_found"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken, last_admin"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/users/{id} [patch]
func (h *Users) updateUser(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.UpdateUser)
	if err != nil {
		return err
	}
	id, err := pathUUID(c, "id", accounts.ErrUserNotFound)
	if err != nil {
		return err
	}
	req, err := decode[UpdateUserRequest](c)
	if err != nil {
		return err
	}
	acct, err := h.Accounts.Update(c.Request().Context(), by, id, accounts.Changes{
		Email: req.Email, Username: req.Username, FirstName: req.FirstName, LastName: req.LastName,
		Password: req.Password, Roles: req.Roles, Resources: req.Resources, Status: req.Status,
		EmailVerified: req.EmailVerified,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, UserResponse{User: userView(acct, h.Now())})
}

// deleteUser godoc
//
//	@ID				deleteUser
//	@Summary		Delete a user
//	@Description	The user and all their sessions are removed (the sessions enter the revocation feed). Your own account: DELETE /v1/me.
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Failure		409	{object}	problem.Error	"cannot_delete_self, last_admin"
//	@Security		BearerAuth
//	@Router			/v1/users/{id} [delete]
func (h *Users) deleteUser(c echo.Context) error {
	return actOnUser(c, h.Accounts, policy.DeleteUser, h.Accounts.Delete)
}

// actOnUser runs op as the caller on the user the path names, and answers 204.
func actOnUser(c echo.Context, a *accounts.Service, op policy.Operation, do func(context.Context, accounts.Actor, uuid.UUID) error) error {
	by, err := actorFor(c, a, op)
	if err != nil {
		return err
	}
	id, err := pathUUID(c, "id", accounts.ErrUserNotFound)
	if err != nil {
		return err
	}
	if err := do(c.Request().Context(), by, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// DeleteAllUsersRequest confirms wiping every user.
type DeleteAllUsersRequest struct {
	// Password is the caller's own password.
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
	Confirm  string `json:"confirm" validate:"required,eq=DELETE ALL USERS" example:"DELETE ALL USERS"`
} // @name DeleteAllUsersRequest

// deleteAllUsers godoc
//
//	@ID				deleteAllUsers
//	@Summary		Delete every user
//	@Description	Removes every user and session, the caller included; every session enters the revocation feed. Needs users:write and the admin role, the caller's password and the confirmation text. The bootstrap admin is recreated at the next start.
//	@Tags			users
//	@Accept			json
//	@Produce		json
//	@Param			body	body	DeleteAllUsersRequest	true	"Password and confirmation"
//	@Success		204
//	@Failure		400	{object}	problem.Error	"validation_failed (confirm)"
//	@Failure		401	{object}	problem.Error	"invalid_credentials"
//	@Failure		403	{object}	problem.Error	"forbidden"
//	@Failure		413	{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415	{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429	{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/users [delete]
func (h *Users) deleteAllUsers(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.DeleteAllUsers)
	if err != nil {
		return err
	}
	req, err := decode[DeleteAllUsersRequest](c)
	if err != nil {
		return err
	}
	if err := h.Accounts.Wipe(c.Request().Context(), by, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listUserSessions godoc
//
//	@ID				listUserSessions
//	@Summary		A user's live sessions
//	@Description	Sessions neither revoked nor expired, newest first. Needs sessions:read, every permission the user holds, and the admin role for an administrator's sessions.
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"	format(uuid)
//	@Success		200	{object}	SessionsResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: sessions:read is required, or the user holds a permission the caller lacks or is an administrator"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/sessions [get]
func (h *Users) listUserSessions(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ListUserSessions)
	if err != nil {
		return err
	}
	id, err := pathUUID(c, "id", accounts.ErrUserNotFound)
	if err != nil {
		return err
	}
	list, err := h.Accounts.UserSessions(c.Request().Context(), by, id)
	if err != nil {
		return err
	}
	sid := middleware.SessionID(c)
	return c.JSON(http.StatusOK, sessionsView(list, func(s *models.Session) bool { return s.ID == sid }))
}

// revokeUserSessions godoc
//
//	@ID				revokeUserSessions
//	@Summary		Revoke all of a user's sessions
//	@Description	Their access tokens are refused at once here and by introspection, and enter the revocation feed. Needs sessions:write, every permission the user holds, and the admin role for an administrator's sessions. Not on the caller's own id (403 self_service_required): use POST /v1/auth/logout with all=true.
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: sessions:write is required, or the user holds a permission the caller lacks or is an administrator; self_service_required (the caller's own id)"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/sessions [delete]
func (h *Users) revokeUserSessions(c echo.Context) error {
	return actOnUser(c, h.Accounts, policy.RevokeUserSessions, h.Accounts.RevokeUserSessions)
}
