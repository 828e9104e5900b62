package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// Roles serves the administration of roles.
type Roles struct {
	Accounts *accounts.Service
}

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
//	@Description	Every role, built-in and custom, with its permissions. Needs roles:read.
//	@Tags			roles
//	@Produce		json
//	@Success		200	{object}	RolesResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: roles:read is required"
//	@Security		BearerAuth
//	@Router			/v1/roles [get]
func (h *Roles) listRoles(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ListRoles)
	if err != nil {
		return err
	}
	roles, err := h.Accounts.Roles(c.Request().Context(), by)
	if err != nil {
		return err
	}
	out := RolesResponse{Roles: make([]Role, len(roles))}
	for i := range roles {
		out.Roles[i] = roleView(&roles[i])
	}
	return c.JSON(http.StatusOK, out)
}

// CreateRoleRequest defines a custom role.
type CreateRoleRequest struct {
	Name        string   `json:"name" validate:"required,slug" example:"master"`
	Description string   `json:"description" validate:"max=200" example:"Manages users."`
	Permissions []string `json:"permissions" validate:"max=50,dive,required,max=64" example:"users:read,users:write" binding:"optional"`
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
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/roles [post]
func (h *Roles) createRole(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.CreateRole)
	if err != nil {
		return err
	}
	req, err := decode[CreateRoleRequest](c)
	if err != nil {
		return err
	}
	role, err := h.Accounts.CreateRole(c.Request().Context(), by,
		accounts.RoleInput{Name: req.Name, Description: &req.Description, Permissions: &req.Permissions})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, RoleResponse{Role: roleView(role)})
}

// UpdateRoleRequest changes a role; absent fields stay as they are.
type UpdateRoleRequest struct {
	Description *string   `json:"description" validate:"omitnil,max=200" example:"Manages users."`
	Permissions *[]string `json:"permissions" validate:"omitnil,max=50,dive,required,max=64" example:"users:read" binding:"optional"`
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
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/roles/{name} [patch]
func (h *Roles) updateRole(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.UpdateRole)
	if err != nil {
		return err
	}
	req, err := decode[UpdateRoleRequest](c)
	if err != nil {
		return err
	}
	role, err := h.Accounts.UpdateRole(c.Request().Context(), by,
		accounts.RoleInput{Name: c.Param("name"), Description: req.Description, Permissions: req.Permissions})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, RoleResponse{Role: roleView(role)})
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
func (h *Roles) deleteRole(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.DeleteRole)
	if err != nil {
		return err
	}
	if err := h.Accounts.DeleteRole(c.Request().Context(), by, c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
