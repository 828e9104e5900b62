package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
)

func registerUsers(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {
	read := middleware.RequirePermission(d.Store, models.PermUsersRead)
	write := middleware.RequirePermission(d.Store, models.PermUsersWrite)
	e.GET("/v1/users", listUsers(d), auth) // users:read, or USER_DIRECTORY_PUBLIC: decided inside
	e.GET("/v1/users/count", countUsers(d), auth)
	e.POST("/v1/users", createUser(d), auth, write)
	e.DELETE("/v1/users", deleteAllUsers(d), auth, write)
	e.GET("/v1/users/:id", getUser(d), auth)
	e.PATCH("/v1/users/:id", updateUser(d), auth, write)
	e.DELETE("/v1/users/:id", deleteUser(d), auth, write)
	e.GET("/v1/users/:id/sessions", listUserSessions(d), auth, read)
	e.DELETE("/v1/users/:id/sessions", revokeUserSessions(d), auth, write)
}

var (
	errLastAdmin        = problem.Conflict("last_admin", "This would leave no active administrator.")
	errCannotDeleteSelf = problem.Conflict("cannot_delete_self", "You cannot delete your own account here; use DELETE /v1/me.")
)

// wipeConfirmation is what DELETE /v1/users must be sent, verbatim.
const wipeConfirmation = "DELETE ALL USERS"

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
//	@Description	Keyset-paginated by id, stable under concurrent inserts; follow next_cursor until it is absent. Needs users:read. With USER_DIRECTORY_PUBLIC any signed-in user may list, and then sees public fields of active accounts only (PublicUsersResponse), q searches only the public fields, and role/status filters stay reserved to users:read.
//	@Tags			users
//	@Produce		json
//	@Param			limit	query		int		false	"Page size, 1 to 200"	default(50)
//	@Param			cursor	query		string	false	"next_cursor of the previous page"
//	@Param			q		query		string	false	"Substring of email, username, first or last name (case-insensitive)"
//	@Param			role	query		string	false	"Only holders of this role"
//	@Param			status	query		string	false	"Only this status"	Enums(pending, active, disabled, locked)
//	@Success		200		{object}	UsersResponse
//	@Failure		400		{object}	problem.Error	"invalid_cursor, validation_failed"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden"
//	@Security		BearerAuth
//	@Router			/v1/users [get]
func listUsers(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		full := caller.Can(models.PermUsersRead)
		if !full && !d.Config.UserDirectoryPublic {
			return problem.ErrForbidden
		}
		f, err := userFilter(c, d, full)
		if err != nil {
			return err
		}
		limit := f.Limit
		f.Limit++ // one more tells whether another page follows
		list, err := d.Store.ListUsers(c.Request().Context(), f)
		if err != nil {
			return dbFailure(err)
		}
		next := ""
		if len(list) > limit {
			list = list[:limit]
			next = encodeCursor(d, "users", list[limit-1].ID)
		}
		if !full {
			out := PublicUsersResponse{Users: make([]PublicUser, len(list)), NextCursor: next}
			for i, a := range list {
				out.Users[i] = publicUserView(&a.User)
			}
			return c.JSON(http.StatusOK, out)
		}
		now := d.Now()
		out := UsersResponse{Users: make([]User, len(list)), NextCursor: next}
		for i, a := range list {
			out.Users[i] = userView(a, now)
		}
		return c.JSON(http.StatusOK, out)
	}
}

// userFilter reads the query of GET /v1/users.
func userFilter(c echo.Context, d Deps, full bool) (store.UserFilter, error) {
	limit, err := pageLimit(c)
	if err != nil {
		return store.UserFilter{}, err
	}
	after, err := decodeCursor(d, "users", c.QueryParam("cursor"))
	if err != nil {
		return store.UserFilter{}, err
	}
	f := store.UserFilter{
		Query: strings.TrimSpace(c.QueryParam("q")), Role: c.QueryParam("role"), Status: c.QueryParam("status"),
		Directory: !full, Now: d.Now(), After: after, Limit: limit,
	}
	var bad []problem.FieldError
	if utf8.RuneCountInString(f.Query) > 100 {
		bad = append(bad, problem.FieldError{Field: "q", Message: "must be at most 100 characters"})
	}
	if len(f.Role) > 64 {
		bad = append(bad, problem.FieldError{Field: "role", Message: "must be at most 64 characters"})
	}
	switch f.Status {
	case "", models.StatusPending, models.StatusActive, models.StatusDisabled, models.StatusLocked:
	default:
		bad = append(bad, problem.FieldError{Field: "status", Message: "must be one of: pending, active, disabled, locked"})
	}
	if len(bad) > 0 {
		return f, problem.Invalid(bad...)
	}
	if !full && (f.Role != "" || f.Status != "") {
		// Roles and status are not public fields: filtering on them would reveal them.
		return f, problem.Forbidden("forbidden", "Filtering by role or status needs users:read.")
	}
	return f, nil
}

// countUsers godoc
//
//	@ID				countUsers
//	@Summary		Count users
//	@Tags			users
//	@Produce		json
//	@Success		200	{object}	CountResponse
//	@Failure		401	{object}	problem.Error
//	@Security		BearerAuth
//	@Router			/v1/users/count [get]
func countUsers(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		n, err := d.Store.CountUsers(c.Request().Context())
		if err != nil {
			return dbFailure(err)
		}
		return c.JSON(http.StatusOK, CountResponse{Count: n})
	}
}

// getUser godoc
//
//	@ID				getUser
//	@Summary		Get a user
//	@Description	The full record for the user themself or a holder of users:read (UserResponse); public fields only (id, username, first_name, last_name) for anyone else (PublicUserResponse).
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"
//	@Success		200	{object}	UserResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id} [get]
func getUser(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		id, err := pathUUID(c, "id", problem.ErrUserNotFound)
		if err != nil {
			return err
		}
		if id == caller.ID {
			return c.JSON(http.StatusOK, UserResponse{User: userView(caller, d.Now())})
		}
		target, err := d.Store.UserByID(c.Request().Context(), id)
		if err != nil {
			return userError(err)
		}
		if !caller.Can(models.PermUsersRead) {
			return c.JSON(http.StatusOK, PublicUserResponse{User: publicUserView(&target.User)})
		}
		return c.JSON(http.StatusOK, UserResponse{User: userView(target, d.Now())})
	}
}

// CreateUserRequest is an account an administrator creates.
type CreateUserRequest struct {
	Email     string `json:"email" validate:"required,max=254,email" example:"ada@example.com"`
	Username  string `json:"username" validate:"required,username" example:"ada"`
	Password  string `json:"password" validate:"required" example:"correct horse battery staple"`
	FirstName string `json:"first_name" validate:"max=100" example:"Ada"`
	LastName  string `json:"last_name" validate:"max=100" example:"Lovelace"`
	// Roles default to ["user"] when absent; [] means none.
	Roles []string `json:"roles" validate:"max=20,dive,required,max=64" example:"user"`
	// Resources are opaque ids the user is granted (carried in access tokens).
	Resources []string `json:"resources" validate:"max=100,dive,required,max=128" example:"assistant-42"`
	Status    string   `json:"status" validate:"omitempty,oneof=active pending disabled" enums:"active,pending,disabled" example:"active"`
} // @name CreateUserRequest

func (r *CreateUserRequest) normalize() {
	r.Email = normalizeEmail(r.Email)
	r.Username = strings.TrimSpace(r.Username)
	r.FirstName = strings.TrimSpace(r.FirstName)
	r.LastName = strings.TrimSpace(r.LastName)
}

// createUser godoc
//
//	@ID				createUser
//	@Summary		Create a user
//	@Description	Active by default. A caller can only grant roles whose permissions they hold; only admins grant admin.
//	@Tags			users
//	@Accept			json
//	@Produce		json
//	@Param			body	body		CreateUserRequest	true	"The new user"
//	@Success		201		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_role, weak password"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: users:write is required, or a role beyond the caller's own permissions"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken"
//	@Security		BearerAuth
//	@Router			/v1/users [post]
func createUser(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[CreateUserRequest](c)
		if err != nil {
			return err
		}
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		roles := []string{models.RoleUser}
		if req.Roles != nil {
			roles = uniqueStrings(req.Roles)
		}
		status := req.Status
		if status == "" {
			status = models.StatusActive
		}
		if err := checkPassword(d, "password", req.Password, req.Email, req.Username, req.FirstName, req.LastName); err != nil {
			return err
		}
		hash, err := d.Hasher.Hash(req.Password)
		if err != nil {
			return problem.Internal(err)
		}
		ctx, now := c.Request().Context(), d.Now()
		u := &models.User{
			ID: uuid.Must(uuid.NewV7()), Email: req.Email, Username: req.Username,
			FirstName: req.FirstName, LastName: req.LastName,
			PasswordHash: hash, Status: status, CreatedAt: now, UpdatedAt: now,
		}
		resources := uniqueStrings(req.Resources)
		var acct *store.Account
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			if err := checkRoles(ctx, tx, caller, roles); err != nil {
				return err
			}
			if err := tx.CreateUser(ctx, u, roles, resources); err != nil {
				return err
			}
			if err := tx.AddAudit(ctx, audit.Event(audit.UserCreated, now, caller.ID, u.ID, clientOf(c),
				audit.Details{"roles": roles, "status": status, "resources": len(resources)})); err != nil {
				return err
			}
			acct, err = tx.UserByID(ctx, u.ID)
			return err
		})
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusCreated, UserResponse{User: userView(acct, now)})
	}
}

// checkRoles fails with 400 unknown_role for a role that does not exist and 403
// for one the caller may not grant: one with a permission the caller lacks, or
// admin when the caller is no admin.
func checkRoles(ctx context.Context, tx *store.Store, caller *store.Account, roles []string) error {
	unknown, err := tx.UnknownRoles(ctx, roles)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		e := problem.BadRequest("unknown_role", fmt.Sprintf("There is no role named %q.", unknown[0]))
		e.Errors = []problem.FieldError{{Field: "roles", Message: fmt.Sprintf("unknown role %q", unknown[0])}}
		return e
	}
	if slices.Contains(roles, models.RoleAdmin) && !caller.HasRole(models.RoleAdmin) {
		return errBeyondOwn
	}
	perms, err := tx.PermissionsOf(ctx, roles)
	if err != nil {
		return err
	}
	if !holdsAll(caller, perms) {
		return errBeyondOwn
	}
	return nil
}

// mayManage: users:write acts only on the caller themself or on accounts whose
// permissions the caller holds all of, so it cannot be used to take over a more
// privileged account (by setting its password or email) or to demote one.
func mayManage(caller, target *store.Account) bool {
	return caller.ID == target.ID || holdsAll(caller, target.Permissions)
}

// UpdateUserRequest changes a user; absent (or null) fields stay as they are.
type UpdateUserRequest struct {
	Email     *string `json:"email" validate:"omitnil,max=254,email" example:"ada@example.com"`
	Username  *string `json:"username" validate:"omitnil,username" example:"ada"`
	FirstName *string `json:"first_name" validate:"omitnil,max=100" example:"Ada"`
	LastName  *string `json:"last_name" validate:"omitnil,max=100" example:"Lovelace"`
	// Password sets a new password (policy applies); the user's sessions are revoked.
	Password *string `json:"password" validate:"omitnil,min=1" example:"correct horse battery staple"`
	// Roles replace the user's roles; a change revokes the user's sessions.
	Roles     *[]string `json:"roles" validate:"omitnil,max=20,dive,required,max=64" example:"user"`
	Resources *[]string `json:"resources" validate:"omitnil,max=100,dive,required,max=128" example:"assistant-42"`
	// Status active approves a pending account and unlocks a locked one; disabled bans
	// (and revokes the user's sessions).
	Status *string `json:"status" validate:"omitnil,oneof=active disabled" enums:"active,disabled" example:"active"`
} // @name UpdateUserRequest

func (r *UpdateUserRequest) normalize() {
	trim := func(p **string, f func(string) string) {
		if *p != nil {
			s := f(**p)
			*p = &s
		}
	}
	trim(&r.Email, normalizeEmail)
	trim(&r.Username, strings.TrimSpace)
	trim(&r.FirstName, strings.TrimSpace)
	trim(&r.LastName, strings.TrimSpace)
}

// userUpdate is what a PATCH changed, for sessions and the audit trail.
type userUpdate struct {
	passwordHash    string // the new password, hashed outside the transaction
	changed         []string
	added, removed  []string
	revokeReason    string // set when the change ends the user's sessions
	sessionsRevoked int
}

// updateUser godoc
//
//	@ID				updateUser
//	@Summary		Change a user
//	@Description	Any of email, username, names, password, roles, resources, status. A change of roles, password or status revokes the user's sessions. A caller can only change users whose permissions they hold, and only grant roles whose permissions they hold.
//	@Tags			users
//	@Accept			json
//	@Produce		json
//	@Param			id		path		string				true	"User id"
//	@Param			body	body		UpdateUserRequest	true	"The changes"
//	@Success		200		{object}	UserResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_role, weak password"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden"
//	@Failure		404		{object}	problem.Error	"user_not_found"
//	@Failure		409		{object}	problem.Error	"email_taken, username_taken, last_admin"
//	@Security		BearerAuth
//	@Router			/v1/users/{id} [patch]
func updateUser(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		id, err := pathUUID(c, "id", problem.ErrUserNotFound)
		if err != nil {
			return err
		}
		req, err := decode[UpdateUserRequest](c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		current, err := d.Store.UserByID(ctx, id)
		if err != nil {
			return userError(err)
		}
		up := &userUpdate{}
		if req.Password != nil {
			// Hash before the transaction: it is slow and needs no lock.
			if up.passwordHash, err = newPasswordHash(d, *req.Password, &current.User, &req); err != nil {
				return err
			}
		}
		var out *store.Account
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			apply := func() error {
				var err error
				out, err = applyUserUpdate(c, d, tx, caller, id, &req, up)
				return err
			}
			// Roles and status are how admins stop being active admins.
			if req.Roles != nil || req.Status != nil {
				return tx.GuardLastAdmin(ctx, apply)
			}
			return apply()
		})
		if err != nil {
			return userError(err)
		}
		return c.JSON(http.StatusOK, UserResponse{User: userView(out, d.Now())})
	}
}

// newPasswordHash checks the policy against the user's (new) identity and hashes.
func newPasswordHash(d Deps, pw string, u *models.User, req *UpdateUserRequest) (string, error) {
	pick := func(p *string, cur string) string {
		if p != nil {
			return *p
		}
		return cur
	}
	if err := checkPassword(d, "password", pw, pick(req.Email, u.Email), pick(req.Username, u.Username),
		pick(req.FirstName, u.FirstName), pick(req.LastName, u.LastName)); err != nil {
		return "", err
	}
	hash, err := d.Hasher.Hash(pw)
	if err != nil {
		return "", problem.Internal(err)
	}
	return hash, nil
}

// applyUserUpdate makes the changes of req on tx, revokes sessions and writes
// audit events as needed, and returns the updated account.
func applyUserUpdate(c echo.Context, d Deps, tx *store.Store, caller *store.Account, id uuid.UUID, req *UpdateUserRequest, up *userUpdate) (*store.Account, error) {
	ctx, now := c.Request().Context(), d.Now()
	target, err := tx.LockUser(ctx, id)
	if err != nil {
		return nil, err
	}
	if !mayManage(caller, target) {
		return nil, errBeyondOwn
	}
	fields := map[string]any{}
	set := func(column string, v *string, cur string) {
		if v != nil && *v != cur {
			fields[column] = *v
			up.changed = append(up.changed, column)
		}
	}
	set("email", req.Email, target.Email)
	set("username", req.Username, target.Username)
	set("first_name", req.FirstName, target.FirstName)
	set("last_name", req.LastName, target.LastName)
	if up.passwordHash != "" {
		fields["password_hash"] = up.passwordHash
		up.changed = append(up.changed, "password")
		up.revokeReason = "password_changed"
	}
	if req.Status != nil {
		applyStatus(*req.Status, target, fields, up)
	}
	if req.Roles != nil {
		if err := applyRoles(ctx, tx, caller, target, *req.Roles, up); err != nil {
			return nil, err
		}
	}
	if req.Resources != nil {
		res := uniqueStrings(*req.Resources)
		if !slices.Equal(res, target.Resources) {
			if err := tx.SetResources(ctx, id, res); err != nil {
				return nil, err
			}
			up.changed = append(up.changed, "resources")
		}
	}
	if len(up.changed) == 0 {
		return target, nil
	}
	if err := tx.UpdateUser(ctx, id, now, fields); err != nil {
		return nil, err
	}
	if err := recordUserUpdate(c, d, tx, caller, id, up); err != nil {
		return nil, err
	}
	return tx.UserByID(ctx, id)
}

// applyStatus: active approves and unlocks (the lockout counters restart),
// disabled bans. A change of stored status revokes the sessions.
func applyStatus(status string, target *store.Account, fields map[string]any, up *userUpdate) {
	if status != target.Status {
		fields["status"] = status
		up.changed = append(up.changed, "status")
		if up.revokeReason == "" {
			up.revokeReason = "status_changed"
		}
	}
	if status == models.StatusActive && (target.LockedUntil != nil || target.FailedLogins > 0 || target.LockCount > 0) {
		fields["failed_logins"], fields["lock_count"], fields["locked_until"] = 0, 0, nil
		up.changed = append(up.changed, "unlocked")
	}
}

// applyRoles replaces the target's roles when they differ, after checking the
// caller may grant the added ones (removed ones are within the caller's
// permissions already: mayManage).
func applyRoles(ctx context.Context, tx *store.Store, caller, target *store.Account, roles []string, up *userUpdate) error {
	roles = uniqueStrings(roles)
	up.added, up.removed = diff(target.Roles, roles)
	if len(up.added) == 0 && len(up.removed) == 0 {
		return nil
	}
	if err := checkRoles(ctx, tx, caller, up.added); err != nil {
		return err
	}
	if err := tx.SetRoles(ctx, target.ID, roles); err != nil {
		return err
	}
	up.changed = append(up.changed, "roles")
	up.revokeReason = "role_changed"
	return nil
}

// recordUserUpdate revokes the user's sessions when the change calls for it and
// writes user_updated (and role_changed) on the same transaction.
func recordUserUpdate(c echo.Context, d Deps, tx *store.Store, caller *store.Account, id uuid.UUID, up *userUpdate) error {
	ctx, now, client := c.Request().Context(), d.Now(), clientOf(c)
	if up.revokeReason != "" {
		ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{id}, Reason: up.revokeReason})
		if err != nil {
			return err
		}
		up.sessionsRevoked = len(ids)
	}
	if err := tx.AddAudit(ctx, audit.Event(audit.UserUpdated, now, caller.ID, id, client,
		audit.Details{"changed": up.changed, "sessions_revoked": up.sessionsRevoked})); err != nil {
		return err
	}
	if up.added == nil && up.removed == nil {
		return nil
	}
	return tx.AddAudit(ctx, audit.Event(audit.RoleChanged, now, caller.ID, id, client,
		audit.Details{"added": up.added, "removed": up.removed}))
}

// deleteUser godoc
//
//	@ID				deleteUser
//	@Summary		Delete a user
//	@Description	The user and all their sessions are removed (the sessions enter the revocation feed). Your own account: DELETE /v1/me.
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Failure		409	{object}	problem.Error	"cannot_delete_self, last_admin"
//	@Security		BearerAuth
//	@Router			/v1/users/{id} [delete]
func deleteUser(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		id, err := pathUUID(c, "id", problem.ErrUserNotFound)
		if err != nil {
			return err
		}
		if id == caller.ID {
			return errCannotDeleteSelf
		}
		ctx, now := c.Request().Context(), d.Now()
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			return tx.GuardLastAdmin(ctx, func() error {
				target, err := tx.LockUser(ctx, id)
				if err != nil {
					return err
				}
				if !mayManage(caller, target) {
					return errBeyondOwn
				}
				// Revoke before deleting: the revocation feed outlives the session rows.
				ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{id}, Reason: "user_deleted"})
				if err != nil {
					return err
				}
				if err := tx.DeleteUser(ctx, id); err != nil {
					return err
				}
				return tx.AddAudit(ctx, audit.Event(audit.UserDeleted, now, caller.ID, id, clientOf(c),
					audit.Details{"username": target.Username, "roles": target.Roles, "sessions_revoked": len(ids)}))
			})
		})
		if err != nil {
			return userError(err)
		}
		return c.NoContent(http.StatusNoContent)
	}
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
//	@Security		BearerAuth
//	@Router			/v1/users [delete]
func deleteAllUsers(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		if !caller.HasRole(models.RoleAdmin) {
			return problem.Forbidden("forbidden", "Only administrators can delete every user.")
		}
		req, err := decode[DeleteAllUsersRequest](c)
		if err != nil {
			return err
		}
		if ok, _, _ := d.Hasher.Verify(caller.PasswordHash, req.Password); !ok {
			return errInvalidCredentials
		}
		ctx, now := c.Request().Context(), d.Now()
		// Not guarded by GuardLastAdmin on purpose: no admin remains, and the
		// bootstrap admin is recreated at the next start.
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{All: true, Reason: "users_wiped"})
			if err != nil {
				return err
			}
			n, err := tx.DeleteAllUsers(ctx)
			if err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.UsersWiped, now, caller.ID, uuid.Nil, clientOf(c),
				audit.Details{"users": n, "sessions_revoked": len(ids)}))
		})
		if err != nil {
			return dbFailure(err)
		}
		d.Log.WarnContext(ctx, "every user was deleted; the bootstrap admin is recreated at the next start",
			"actor_id", caller.ID)
		return c.NoContent(http.StatusNoContent)
	}
}

// listUserSessions godoc
//
//	@ID				listUserSessions
//	@Summary		A user's live sessions
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"
//	@Success		200	{object}	SessionsResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: users:read is required"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/sessions [get]
func listUserSessions(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathUUID(c, "id", problem.ErrUserNotFound)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		if _, err := d.Store.UserByID(ctx, id); err != nil {
			return userError(err)
		}
		list, err := d.Store.LiveSessions(ctx, id, d.Now())
		if err != nil {
			return dbFailure(err)
		}
		sid := middleware.SessionID(c)
		return c.JSON(http.StatusOK, sessionsView(list, func(s *models.Session) bool { return s.ID == sid }))
	}
}

// revokeUserSessions godoc
//
//	@ID				revokeUserSessions
//	@Summary		Revoke all of a user's sessions
//	@Description	Their access tokens are refused at once here and by introspection, and enter the revocation feed.
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/sessions [delete]
func revokeUserSessions(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		id, err := pathUUID(c, "id", problem.ErrUserNotFound)
		if err != nil {
			return err
		}
		ctx, now := c.Request().Context(), d.Now()
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			target, err := tx.LockUser(ctx, id)
			if err != nil {
				return err
			}
			if !mayManage(caller, target) {
				return errBeyondOwn
			}
			ids, err := d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{id}, Reason: "admin_revoke"})
			if err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.SessionsRevoked, now, caller.ID, id, clientOf(c),
				audit.Details{"sessions": len(ids)}))
		})
		if err != nil {
			return userError(err)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// userError is storeError where "not found" means the user and the last-admin
// guard can refuse.
func userError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return problem.ErrUserNotFound
	case errors.Is(err, store.ErrLastAdmin):
		return errLastAdmin
	}
	return storeError(err)
}
