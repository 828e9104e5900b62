package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
)

// PersonalToken is a personal access token. Its secret is never shown again
// after it is made.
type PersonalToken struct {
	ID          string     `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Name        string     `json:"name" example:"backup script"`
	Permissions []string   `json:"permissions" example:"users:read"`
	CreatedAt   time.Time  `json:"created_at" example:"2026-01-02T15:04:05Z"`
	ExpiresAt   time.Time  `json:"expires_at" example:"2026-04-02T15:04:05Z"`
	LastUsedAt  *time.Time `json:"last_used_at" example:"2026-01-02T15:04:05Z" extensions:"x-nullable"`
} // @name PersonalToken

// PersonalTokenResponse wraps one personal access token.
type PersonalTokenResponse struct {
	Token PersonalToken `json:"token"`
} // @name PersonalTokenResponse

// PersonalTokensResponse lists personal access tokens.
type PersonalTokensResponse struct {
	Tokens []PersonalToken `json:"tokens"`
} // @name PersonalTokensResponse

// PersonalTokenCreatedResponse is a new personal access token and its
// secret, shown only here.
type PersonalTokenCreatedResponse struct {
	Token  PersonalToken `json:"token"`
	Secret string        `json:"secret" example:"authsvc_pat_3q2-7wAAAAB0aGlzIGlzIG5vdCBhIHJlYWwgc2VjcmV0IQ"`
} // @name PersonalTokenCreatedResponse

func personalTokenView(t *models.PersonalToken) PersonalToken {
	return PersonalToken{ID: t.ID.String(), Name: t.Name, Permissions: orEmpty(strings.Fields(t.Permissions)),
		CreatedAt: t.CreatedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC(), LastUsedAt: utcPtr(t.LastUsedAt)}
}

func personalTokensView(list []models.PersonalToken) PersonalTokensResponse {
	out := PersonalTokensResponse{Tokens: make([]PersonalToken, len(list))}
	for i := range list {
		out.Tokens[i] = personalTokenView(&list[i])
	}
	return out
}

// Bounds of a personal access token's life.
const (
	minTokenLife = time.Hour
	maxTokenLife = 365 * 24 * time.Hour
)

// CreatePersonalTokenRequest asks for a personal access token.
type CreatePersonalTokenRequest struct {
	Name string `json:"name" validate:"required,max=100" example:"backup script"`
	// ExpiresIn is the token's life in seconds: 1 hour (3600) to 1 year (31536000).
	ExpiresIn int64 `json:"expires_in" validate:"required,min=3600,max=31536000" example:"7776000"`
	// Permissions are some of the user's own; absent: none (the token can read the profile only).
	Permissions []string `json:"permissions,omitempty" validate:"max=50,dive,required,max=64" example:"users:read" binding:"optional"`
	// Password is the user's current password.
	Password string `json:"password" validate:"required,max=1024" example:"correct horse battery staple"`
} // @name CreatePersonalTokenRequest

func (r *CreatePersonalTokenRequest) normalize() { r.Name = strings.TrimSpace(r.Name) }

// createMyToken godoc
//
//	@ID				createMyToken
//	@Summary		Create a personal access token
//	@Description	For scripts: an opaque token (authsvc_pat_…) that acts as the user with the intersection of its permissions and the user's current ones, amr ["pat"]. It cannot manage tokens, sessions, the password, the email, factors, identities or the account's deletion (403 session_required), and it is not a session: a password change does not end it. It ends at its expiry, when revoked, and when the user is disabled or deleted. Needs the user's session and password (a wrong one counts toward the lockout). The secret is in this answer only; the database keeps a MAC.
//	@Tags			me
//	@Accept			json
//	@Produce		json
//	@Param			body	body		CreatePersonalTokenRequest	true	"The new token"
//	@Success		201		{object}	PersonalTokenCreatedResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_permission"
//	@Failure		401		{object}	problem.Error	"invalid_credentials (a wrong password)"
//	@Failure		403		{object}	problem.Error	"session_required; forbidden: a permission the user lacks; password_not_set"
//	@Failure		409		{object}	problem.Error	"too_many_tokens"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Failure		429		{object}	problem.Error	"too_many_attempts: locked after too many wrong passwords or codes (Retry-After)"
//	@Security		BearerAuth
//	@Router			/v1/me/tokens [post]
func (h *Me) createMyToken(c echo.Context) error {
	me, err := actor(c)
	if err != nil {
		return err
	}
	req, err := decode[CreatePersonalTokenRequest](c)
	if err != nil {
		return err
	}
	t, raw, err := h.Accounts.CreatePersonalToken(c.Request().Context(), me, accounts.PersonalTokenInput{
		Name: req.Name, ExpiresIn: time.Duration(req.ExpiresIn) * time.Second, Permissions: req.Permissions, Password: req.Password,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Pragma", "no-cache")
	return c.JSON(http.StatusCreated, PersonalTokenCreatedResponse{Token: personalTokenView(t), Secret: raw})
}

// listMyTokens godoc
//
//	@ID				listMyTokens
//	@Summary		The signed-in user's personal access tokens
//	@Description	Those that have not expired, newest first. Needs the user's session.
//	@Tags			me
//	@Produce		json
//	@Success		200	{object}	PersonalTokensResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"session_required"
//	@Security		BearerAuth
//	@Router			/v1/me/tokens [get]
func (h *Me) listMyTokens(c echo.Context) error {
	me, err := actor(c)
	if err != nil {
		return err
	}
	list, err := h.Accounts.PersonalTokens(c.Request().Context(), me)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, personalTokensView(list))
}

// revokeMyToken godoc
//
//	@ID				revokeMyToken
//	@Summary		Revoke one of the signed-in user's personal access tokens
//	@Description	It is refused at once, by every instance. Another user's token is 404. Needs the user's session.
//	@Tags			me
//	@Produce		json
//	@Param			id	path	string	true	"Token id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"session_required"
//	@Failure		404	{object}	problem.Error	"token_not_found"
//	@Security		BearerAuth
//	@Router			/v1/me/tokens/{id} [delete]
func (h *Me) revokeMyToken(c echo.Context) error {
	me, err := actor(c)
	if err != nil {
		return err
	}
	id, err := pathUUID(c, "id", accounts.ErrTokenNotFound)
	if err != nil {
		return err
	}
	if err := h.Accounts.RevokePersonalToken(c.Request().Context(), me, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listUserTokens godoc
//
//	@ID				listUserTokens
//	@Summary		A user's personal access tokens
//	@Description	Those that have not expired, newest first. Needs users:read.
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"	format(uuid)
//	@Success		200	{object}	PersonalTokensResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: users:read is required"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/tokens [get]
func (h *Users) listUserTokens(c echo.Context) error {
	by, uid, err := h.userTokensTarget(c, policy.ListUserTokens)
	if err != nil {
		return err
	}
	list, err := h.Accounts.UserPersonalTokens(c.Request().Context(), by, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, personalTokensView(list))
}

// getUserToken godoc
//
//	@ID				getUserToken
//	@Summary		One of a user's personal access tokens
//	@Description	Needs users:read.
//	@Tags			users
//	@Produce		json
//	@Param			id	path		string	true	"User id"	format(uuid)
//	@Param			tid	path		string	true	"Token id"	format(uuid)
//	@Success		200	{object}	PersonalTokenResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: users:read is required"
//	@Failure		404	{object}	problem.Error	"token_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/tokens/{tid} [get]
func (h *Users) getUserToken(c echo.Context) error {
	by, uid, err := h.userTokensTarget(c, policy.ListUserTokens)
	if err != nil {
		return err
	}
	tid, err := pathUUID(c, "tid", accounts.ErrTokenNotFound)
	if err != nil {
		return err
	}
	t, err := h.Accounts.UserPersonalToken(c.Request().Context(), by, uid, tid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, PersonalTokenResponse{Token: personalTokenView(t)})
}

// revokeUserTokens godoc
//
//	@ID				revokeUserTokens
//	@Summary		Revoke every personal access token of a user
//	@Description	They are refused at once, by every instance. Needs users:write, and the right to manage the user (every permission they hold; an administrator for an administrator).
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: users:write is required, or the user holds permissions the caller lacks"
//	@Failure		404	{object}	problem.Error	"user_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/tokens [delete]
func (h *Users) revokeUserTokens(c echo.Context) error {
	by, uid, err := h.userTokensTarget(c, policy.RevokeUserToken)
	if err != nil {
		return err
	}
	if _, err := h.Accounts.RevokeUserPersonalTokens(c.Request().Context(), by, uid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// revokeUserToken godoc
//
//	@ID				revokeUserToken
//	@Summary		Revoke one of a user's personal access tokens
//	@Description	It is refused at once, by every instance. Needs users:write, and the right to manage the user.
//	@Tags			users
//	@Produce		json
//	@Param			id	path	string	true	"User id"	format(uuid)
//	@Param			tid	path	string	true	"Token id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: users:write is required, or the user holds permissions the caller lacks"
//	@Failure		404	{object}	problem.Error	"user_not_found, token_not_found"
//	@Security		BearerAuth
//	@Router			/v1/users/{id}/tokens/{tid} [delete]
func (h *Users) revokeUserToken(c echo.Context) error {
	by, uid, err := h.userTokensTarget(c, policy.RevokeUserToken)
	if err != nil {
		return err
	}
	tid, err := pathUUID(c, "tid", accounts.ErrTokenNotFound)
	if err != nil {
		return err
	}
	if err := h.Accounts.RevokeUserPersonalToken(c.Request().Context(), by, uid, tid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// userTokensTarget is the caller, once the policy lets it perform op, and the user named by the path.
func (h *Users) userTokensTarget(c echo.Context, op policy.Operation) (accounts.Actor, uuid.UUID, error) {
	return actorForID(c, h.Accounts, op, accounts.ErrUserNotFound)
}
