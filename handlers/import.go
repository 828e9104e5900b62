package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/policy"
)

// MaxImportUsers is the most users one POST /v1/users/import takes
// (`authsvc users import` has no limit).
const MaxImportUsers = 1000

// ImportUsersRequest is users moved in from another system.
type ImportUsersRequest struct {
	Users []accounts.ImportUser `json:"users" validate:"required,min=1,max=1000"`
} // @name ImportUsersRequest

// ImportUserError is a user that was not imported. It never holds the hash.
type ImportUserError struct {
	// Index is the user's position in users, from 0.
	Index   int    `json:"index" example:"3"`
	Email   string `json:"email" example:"ada@example"`
	Message string `json:"message" example:"email: not a valid address"`
} // @name ImportUserError

// ImportUsersResponse counts what an import did.
type ImportUsersResponse struct {
	Created int               `json:"created" example:"997"`
	Skipped int               `json:"skipped" example:"2"`
	Errors  []ImportUserError `json:"errors"`
} // @name ImportResult

// importUsers godoc
//
//	@ID				importUsers
//	@Summary		Import users
//	@Description	Creates up to 1,000 users moved in from another system, with their password hashes: bcrypt ($2a$, $2b$, $2y$), argon2id and argon2i (PHC), scrypt (PHC $scrypt$), PBKDF2-SHA256/-SHA512 (Werkzeug pbkdf2:sha256:ITER$SALT$HEX, Django pbkdf2_sha256$ITER$SALT$B64, PHC $pbkdf2-sha256$). A user logs in with the old password, checked with its own algorithm, and the hash is replaced by Argon2id at that login. A user whose email or username exists is skipped, not changed; an invalid one is listed in errors (never with its hash) and the others go on. Needs users:write, and roles within the caller's own permissions.
//	@Tags			users
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ImportUsersRequest	true	"The users"
//	@Success		200		{object}	ImportUsersResponse
//	@Failure		400		{object}	problem.Error	"validation_failed: no users, or more than 1,000"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: users:write is required"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/users/import [post]
func (h *Users) importUsers(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ImportUsers)
	if err != nil {
		return err
	}
	req, err := decode[ImportUsersRequest](c)
	if err != nil {
		return err
	}
	res, err := h.Accounts.Import(c.Request().Context(), by, req.Users)
	if err != nil {
		return err
	}
	out := ImportUsersResponse{Created: res.Created, Skipped: res.Skipped, Errors: []ImportUserError{}}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, ImportUserError{Index: e.Index, Email: e.Email, Message: e.Message})
	}
	return c.JSON(http.StatusOK, out)
}
