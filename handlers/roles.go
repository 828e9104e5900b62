package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
)

func registerRoles(e *echo.Echo, d Deps, auth echo.MiddlewareFunc) {
	read := middleware.RequirePermission(d.Store, models.PermRolesRead)
	write := middleware.RequirePermission(d.Store, models.PermRolesWrite)
	e.GET("/v1/roles", listRoles(d), auth, read)
	e.POST("/v1/roles", createRole(d), auth, write)
	e.PATCH("/v1/roles/:name", updateRole(d), auth, write)
	e.DELETE("/v1/roles/:name", deleteRole(d), auth, write)
}

var (
	errRoleNotFound = problem.NotFound("role_not_found", "No such role.")
	errBuiltinRole  = problem.Conflict("builtin_role", "Built-in roles cannot be deleted and their permissions cannot change.")
	// errBeyondOwn refuses to hand out, or act on someone holding, permissions the
	// caller lacks: users:write or roles:write alone must not lead to admin rights.
	errBeyondOwn = problem.Forbidden("forbidden", "You cannot grant, change or act on permissions you do not hold yourself.")
)

// Role is a role and the permissions it grants.
type Role struct {
	Name        string   `json:"name" example:"master"`
	Description string   `json:"description" example:"Manages users."`
	Permissions []string `json:"permissions" example:"users:read,users:write"`
	Builtin     bool     `json:"builtin" example:"false"`
} // @name Role

// RoleResponse wraps one role.
type RoleResponse struct {
	Role Role `json:"role"`
} // @name RoleResponse

// RolesResponse lists roles.
type RolesResponse struct {
	Roles []Role `json:"roles"`
} // @name RolesResponse

func roleView(r *store.RoleInfo) Role {
	return Role{Name: r.Name, Description: r.Description, Permissions: r.Permissions, Builtin: r.Builtin}
}

// listRoles godoc
//
//	@ID				listRoles
//	@Summary		List roles
//	@Tags			roles
//	@Produce		json
//	@Success		200	{object}	RolesResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: roles:read is required"
//	@Security		BearerAuth
//	@Router			/v1/roles [get]
func listRoles(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		roles, err := d.Store.Roles(c.Request().Context())
		if err != nil {
			return dbFailure(err)
		}
		out := RolesResponse{Roles: make([]Role, len(roles))}
		for i := range roles {
			out.Roles[i] = roleView(&roles[i])
		}
		return c.JSON(http.StatusOK, out)
	}
}

// CreateRoleRequest defines a custom role.
type CreateRoleRequest struct {
	Name        string   `json:"name" validate:"required,slug" example:"master"`
	Description string   `json:"description" validate:"max=200" example:"Manages users."`
	Permissions []string `json:"permissions" validate:"max=50,dive,required,max=64" example:"users:read,users:write"`
} // @name CreateRoleRequest

func (r *CreateRoleRequest) normalize() { r.Description = strings.TrimSpace(r.Description) }

// createRole godoc
//
//	@ID				createRole
//	@Summary		Create a role
//	@Description	The name is a lowercase slug. Permissions come from the known list; a caller can only put permissions they hold into a role.
//	@Tags			roles
//	@Accept			json
//	@Produce		json
//	@Param			body	body		CreateRoleRequest	true	"The new role"
//	@Success		201		{object}	RoleResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_permission"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: roles:write is required, or a permission the caller lacks"
//	@Failure		409		{object}	problem.Error	"role_exists"
//	@Security		BearerAuth
//	@Router			/v1/roles [post]
func createRole(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, err := decode[CreateRoleRequest](c)
		if err != nil {
			return err
		}
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		perms := uniqueStrings(req.Permissions)
		if err := checkPermissions(perms); err != nil {
			return err
		}
		if !holdsAll(caller, perms) {
			return errBeyondOwn
		}
		ctx, now := c.Request().Context(), d.Now()
		role := &models.Role{Name: req.Name, Description: req.Description, CreatedAt: now, UpdatedAt: now}
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			if err := tx.CreateRole(ctx, role, perms); err != nil {
				return err
			}
			return tx.AddAudit(ctx, audit.Event(audit.RoleCreated, now, caller.ID, uuid.Nil, clientOf(c),
				audit.Details{"role": role.Name, "permissions": perms}))
		})
		if errors.Is(err, store.ErrConflict) {
			return problem.Conflict("role_exists", fmt.Sprintf("A role named %q already exists.", req.Name))
		}
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusCreated, RoleResponse{Role: Role{Name: role.Name, Description: role.Description, Permissions: perms}})
	}
}

// UpdateRoleRequest changes a role; absent fields stay as they are.
type UpdateRoleRequest struct {
	Description *string   `json:"description" validate:"omitnil,max=200" example:"Manages users."`
	Permissions *[]string `json:"permissions" validate:"omitnil,max=50,dive,required,max=64" example:"users:read"`
} // @name UpdateRoleRequest

func (r *UpdateRoleRequest) normalize() {
	if r.Description != nil {
		s := strings.TrimSpace(*r.Description)
		r.Description = &s
	}
}

// updateRole godoc
//
//	@ID				updateRole
//	@Summary		Change a role
//	@Description	Changes the description and/or the permissions. Built-in roles' permissions cannot change. When the permissions change, every session of the role's holders is revoked, so no access token carries stale permission claims.
//	@Tags			roles
//	@Accept			json
//	@Produce		json
//	@Param			name	path		string				true	"Role name"
//	@Param			body	body		UpdateRoleRequest	true	"The changes"
//	@Success		200		{object}	RoleResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_permission"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: roles:write is required, or a permission the caller lacks"
//	@Failure		404		{object}	problem.Error	"role_not_found"
//	@Failure		409		{object}	problem.Error	"builtin_role"
//	@Security		BearerAuth
//	@Router			/v1/roles/{name} [patch]
func updateRole(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("name")
		req, err := decode[UpdateRoleRequest](c)
		if err != nil {
			return err
		}
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		var perms []string
		if req.Permissions != nil {
			perms = uniqueStrings(*req.Permissions)
			if err := checkPermissions(perms); err != nil {
				return err
			}
		}
		ctx, now := c.Request().Context(), d.Now()
		var out *store.RoleInfo
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			role, err := tx.LockRole(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return errRoleNotFound
			}
			if err != nil {
				return err
			}
			if !holdsAll(caller, role.Permissions) || !holdsAll(caller, perms) {
				return errBeyondOwn
			}
			if perms != nil && slices.Equal(perms, role.Permissions) {
				perms = nil // unchanged: nothing to write, no session to revoke
			}
			if perms != nil && role.Builtin {
				return errBuiltinRole
			}
			desc := req.Description
			if desc != nil && *desc == role.Description {
				desc = nil
			}
			if desc == nil && perms == nil {
				out = role // nothing changes: no write, no event
				return nil
			}
			if err := tx.UpdateRole(ctx, name, now, desc, perms); err != nil {
				return err
			}
			details := audit.Details{"role": name, "description_changed": desc != nil}
			if perms != nil {
				added, removed := diff(role.Permissions, perms)
				details["added"], details["removed"] = added, removed
				n, err := revokeHolders(c, d, tx, name, "role_permissions_changed")
				if err != nil {
					return err
				}
				details["sessions_revoked"] = n
			}
			if err := tx.AddAudit(ctx, audit.Event(audit.RoleUpdated, now, caller.ID, uuid.Nil, clientOf(c), details)); err != nil {
				return err
			}
			out, err = tx.LockRole(ctx, name)
			return err
		})
		if err != nil {
			return storeError(err)
		}
		return c.JSON(http.StatusOK, RoleResponse{Role: roleView(out)})
	}
}

// revokeHolders ends every session of the role's holders and returns how many.
func revokeHolders(c echo.Context, d Deps, tx *store.Store, role, reason string) (int, error) {
	holders, err := tx.RoleHolders(c.Request().Context(), role)
	if err != nil || len(holders) == 0 {
		return 0, err
	}
	ids, err := d.Sessions.Revoke(c.Request().Context(), tx, store.Revoke{UserIDs: holders, Reason: reason})
	return len(ids), err
}

// deleteRole godoc
//
//	@ID				deleteRole
//	@Summary		Delete a role
//	@Description	Its holders lose it and their sessions are revoked. Built-in roles cannot be deleted.
//	@Tags			roles
//	@Produce		json
//	@Param			name	path	string	true	"Role name"
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: roles:write is required, or the role grants a permission the caller lacks"
//	@Failure		404	{object}	problem.Error	"role_not_found"
//	@Failure		409	{object}	problem.Error	"builtin_role"
//	@Security		BearerAuth
//	@Router			/v1/roles/{name} [delete]
func deleteRole(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("name")
		caller, err := middleware.Account(c, d.Store)
		if err != nil {
			return err
		}
		ctx, now, client := c.Request().Context(), d.Now(), clientOf(c)
		err = d.Store.InTx(ctx, func(tx *store.Store) error {
			role, err := tx.LockRole(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return errRoleNotFound
			}
			if err != nil {
				return err
			}
			if role.Builtin {
				return errBuiltinRole
			}
			if !holdsAll(caller, role.Permissions) {
				return errBeyondOwn
			}
			holders, err := tx.RoleHolders(ctx, name)
			if err != nil {
				return err
			}
			revoked, err := d.Sessions.Revoke(ctx, tx, store.Revoke{UserIDs: holders, Reason: "role_deleted"})
			if err != nil {
				return err
			}
			if err := tx.DeleteRole(ctx, name); err != nil {
				return err
			}
			// Each holder's roles changed: record it where ?user_id= finds it.
			for _, uid := range holders {
				if err := tx.AddAudit(ctx, audit.Event(audit.RoleChanged, now, caller.ID, uid, client,
					audit.Details{"added": []string{}, "removed": []string{name}, "reason": "role_deleted"})); err != nil {
					return err
				}
			}
			return tx.AddAudit(ctx, audit.Event(audit.RoleDeleted, now, caller.ID, uuid.Nil, client,
				audit.Details{"role": name, "permissions": role.Permissions, "users": len(holders), "sessions_revoked": len(revoked)}))
		})
		if err != nil {
			return storeError(err)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// checkPermissions rejects a permission the service does not know, naming it.
func checkPermissions(perms []string) error {
	for _, p := range perms {
		if !slices.Contains(models.Permissions, p) {
			e := problem.BadRequest("unknown_permission", fmt.Sprintf("Unknown permission %q; known: %s.", p, strings.Join(models.Permissions, ", ")))
			e.Errors = []problem.FieldError{{Field: "permissions", Message: fmt.Sprintf("unknown permission %q", p)}}
			return e
		}
	}
	return nil
}

// holdsAll reports whether the account holds every one of the permissions.
func holdsAll(a *store.Account, perms []string) bool {
	for _, p := range perms {
		if !a.Can(p) {
			return false
		}
	}
	return true
}

// uniqueStrings sorts and deduplicates; never nil.
func uniqueStrings(in []string) []string {
	out := slices.Clone(in)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// diff returns what is in next but not in prev, and what is in prev but not in next.
func diff(prev, next []string) (added, removed []string) {
	added, removed = []string{}, []string{}
	for _, s := range next {
		if !slices.Contains(prev, s) {
			added = append(added, s)
		}
	}
	for _, s := range prev {
		if !slices.Contains(next, s) {
			removed = append(removed, s)
		}
	}
	return added, removed
}
