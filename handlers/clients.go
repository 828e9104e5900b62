package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/serviceclients"
)

// Clients serves the administration of service clients (client credentials).
type Clients struct {
	Accounts *accounts.Service // the policy's first answer, before a body is read
	Clients  *serviceclients.Service
}

// Client is a service client. Its secret is never shown again after it is made.
type Client struct {
	ID          string     `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Name        string     `json:"name" example:"billing"`
	Description string     `json:"description" example:"The billing service"`
	Permissions []string   `json:"permissions" example:"users:read"`
	Disabled    bool       `json:"disabled" example:"false"`
	CreatedAt   time.Time  `json:"created_at" example:"2026-01-02T15:04:05Z"`
	LastUsedAt  *time.Time `json:"last_used_at" example:"2026-01-02T15:04:05Z" extensions:"x-nullable"`
} // @name ServiceClient

// ClientResponse wraps one client.
type ClientResponse struct {
	Client Client `json:"client"`
} // @name ServiceClientResponse

// ClientsResponse lists clients.
type ClientsResponse struct {
	Clients []Client `json:"clients"`
} // @name ServiceClientsResponse

// ClientCreatedResponse is a new client and its secret, shown only here.
type ClientCreatedResponse struct {
	Client       Client `json:"client"`
	ClientSecret string `json:"client_secret" example:"3q2-7wAAAAB0aGlzIGlzIG5vdCBhIHJlYWwgc2VjcmV0IQ"`
} // @name ServiceClientCreatedResponse

// ClientSecretResponse is a client's new secret, shown only here.
type ClientSecretResponse struct {
	ClientSecret string `json:"client_secret" example:"3q2-7wAAAAB0aGlzIGlzIG5vdCBhIHJlYWwgc2VjcmV0IQ"`
} // @name ClientSecretResponse

func clientView(c *models.Client) Client {
	return Client{ID: c.ID.String(), Name: c.Name, Description: c.Description, Permissions: orEmpty(strings.Fields(c.Permissions)),
		Disabled: c.Disabled, CreatedAt: c.CreatedAt.UTC(), LastUsedAt: utcPtr(c.LastUsedAt)}
}

// CreateClientRequest defines a service client.
type CreateClientRequest struct {
	Name        string   `json:"name" validate:"required,max=100" example:"billing"`
	Description string   `json:"description" validate:"max=200" example:"The billing service"`
	Permissions []string `json:"permissions" validate:"required,max=50,dive,required,max=64" example:"users:read"`
} // @name CreateServiceClientRequest

func (r *CreateClientRequest) normalize() {
	r.Name, r.Description = strings.TrimSpace(r.Name), strings.TrimSpace(r.Description)
}

// createClient godoc
//
//	@ID				createClient
//	@Summary		Create a service client
//	@Description	A client for the client credentials grant (POST /v1/oauth/token), acting with the permissions given here: known ones, each held by the caller. Needs clients:write. The secret (256 bits) is in this answer only; the database keeps a MAC of it.
//	@Tags			clients
//	@Accept			json
//	@Produce		json
//	@Param			body	body		CreateClientRequest	true	"The new client"
//	@Success		201		{object}	ClientCreatedResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_permission"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: clients:write is required, or a permission the caller lacks"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/clients [post]
func (h *Clients) createClient(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.CreateClient)
	if err != nil {
		return err
	}
	req, err := decode[CreateClientRequest](c)
	if err != nil {
		return err
	}
	sc, plain, err := h.Clients.Create(c.Request().Context(), by,
		serviceclients.Input{Name: &req.Name, Description: &req.Description, Permissions: &req.Permissions})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Pragma", "no-cache")
	return c.JSON(http.StatusCreated, ClientCreatedResponse{Client: clientView(&sc.Client), ClientSecret: plain})
}

// listClients godoc
//
//	@ID				listClients
//	@Summary		List service clients
//	@Description	Every service client, oldest first. Needs clients:read.
//	@Tags			clients
//	@Produce		json
//	@Success		200	{object}	ClientsResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: clients:read is required"
//	@Security		BearerAuth
//	@Router			/v1/clients [get]
func (h *Clients) listClients(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ListClients)
	if err != nil {
		return err
	}
	list, err := h.Clients.List(c.Request().Context(), by)
	if err != nil {
		return err
	}
	out := ClientsResponse{Clients: make([]Client, len(list))}
	for i := range list {
		out.Clients[i] = clientView(&list[i])
	}
	return c.JSON(http.StatusOK, out)
}

// getClient godoc
//
//	@ID				getClient
//	@Summary		Read a service client
//	@Description	Needs clients:read.
//	@Tags			clients
//	@Produce		json
//	@Param			id	path		string	true	"Client id"	format(uuid)
//	@Success		200	{object}	ClientResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: clients:read is required"
//	@Failure		404	{object}	problem.Error	"client_not_found"
//	@Security		BearerAuth
//	@Router			/v1/clients/{id} [get]
func (h *Clients) getClient(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.ReadClient, serviceclients.ErrNotFound)
	if err != nil {
		return err
	}
	cl, err := h.Clients.Get(c.Request().Context(), by, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ClientResponse{Client: clientView(cl)})
}

// UpdateClientRequest changes a service client; absent fields stay as they are.
type UpdateClientRequest struct {
	Name        *string   `json:"name,omitempty" validate:"omitnil,min=1,max=100" example:"billing"`
	Description *string   `json:"description,omitempty" validate:"omitnil,max=200" example:"The billing service"`
	Permissions *[]string `json:"permissions,omitempty" validate:"omitnil,max=50,dive,required,max=64" example:"users:read" binding:"optional"`
	Disabled    *bool     `json:"disabled,omitempty" example:"true"`
} // @name UpdateServiceClientRequest

func (r *UpdateClientRequest) normalize() {
	trimSpaces(r.Name, r.Description)
}

// updateClient godoc
//
//	@ID				updateClient
//	@Summary		Change a service client
//	@Description	Any of name, description, permissions (known ones the caller holds), disabled. Disabling the client, or taking a permission from it, ends the tokens issued to it so far: authsvc, introspection and forward auth refuse them at once, and the revocation feed lists them. Needs clients:write, and every permission the client holds.
//	@Tags			clients
//	@Accept			json
//	@Produce		json
//	@Param			id		path		string				true	"Client id"	format(uuid)
//	@Param			body	body		UpdateClientRequest	true	"The changes"
//	@Success		200		{object}	ClientResponse
//	@Failure		400		{object}	problem.Error	"validation_failed, unknown_permission"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: clients:write is required, or a permission the caller lacks"
//	@Failure		404		{object}	problem.Error	"client_not_found"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/clients/{id} [patch]
func (h *Clients) updateClient(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.UpdateClient, serviceclients.ErrNotFound)
	if err != nil {
		return err
	}
	req, err := decode[UpdateClientRequest](c)
	if err != nil {
		return err
	}
	cl, err := h.Clients.Update(c.Request().Context(), by, id, serviceclients.Input{
		Name: req.Name, Description: req.Description, Permissions: req.Permissions, Disabled: req.Disabled,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ClientResponse{Client: clientView(cl)})
}

// RotateClientSecretRequest asks for a new secret.
type RotateClientSecretRequest struct {
	// Overlap is how long the old secret keeps working beside the new one (a
	// duration such as "10m"; 0s to at most 24h). At 0s the old secret, and the
	// tokens issued with it, end at once.
	Overlap string `json:"overlap,omitempty" validate:"max=32" example:"1h"`
} // @name RotateClientSecretRequest

// rotateClientSecret godoc
//
//	@ID				rotateClientSecret
//	@Summary		Rotate a service client's secret
//	@Description	A new secret, in this answer only. The old one keeps working for overlap (default 0s, at most 24h); when it ends, so do the tokens issued with it (the revocation feed lists them). The body may be left out. Needs clients:write.
//	@Tags			clients
//	@Accept			json
//	@Produce		json
//	@Param			id		path		string						true	"Client id"	format(uuid)
//	@Param			body	body		RotateClientSecretRequest	false	"How long the old secret overlaps"
//	@Success		200		{object}	ClientSecretResponse
//	@Failure		400		{object}	problem.Error	"validation_failed: overlap is not a duration from 0s to 24h"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: clients:write is required, or a permission the caller lacks"
//	@Failure		404		{object}	problem.Error	"client_not_found"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/clients/{id}/secret [post]
func (h *Clients) rotateClientSecret(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.RotateClientSecret, serviceclients.ErrNotFound)
	if err != nil {
		return err
	}
	req, err := decodeOptional[RotateClientSecretRequest](c)
	if err != nil {
		return err
	}
	var overlap time.Duration
	if req.Overlap != "" {
		overlap, err = time.ParseDuration(req.Overlap)
		if err != nil || overlap < 0 || overlap > serviceclients.MaxOverlap {
			return problem.Invalid(problem.FieldError{Field: "overlap", Message: "must be a duration from 0s to 24h, such as 10m"})
		}
	}
	plain, err := h.Clients.RotateSecret(c.Request().Context(), by, id, overlap)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, ClientSecretResponse{ClientSecret: plain})
}

// deleteClient godoc
//
//	@ID				deleteClient
//	@Summary		Delete a service client
//	@Description	Its tokens are refused at once, and listed in the revocation feed. Needs clients:write.
//	@Tags			clients
//	@Produce		json
//	@Param			id	path	string	true	"Client id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: clients:write is required, or a permission the caller lacks"
//	@Failure		404	{object}	problem.Error	"client_not_found"
//	@Security		BearerAuth
//	@Router			/v1/clients/{id} [delete]
func (h *Clients) deleteClient(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.DeleteClient, serviceclients.ErrNotFound)
	if err != nil {
		return err
	}
	if err := h.Clients.Delete(c.Request().Context(), by, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
