package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/webhooks"
)

// Webhooks serves the administration of webhook endpoints.
type Webhooks struct {
	Accounts *accounts.Service // the policy's first answer, before a body is read
	Webhooks *webhooks.Admin
}

// Webhook is an endpoint that receives events. Its secret is never shown
// again after it is made.
type Webhook struct {
	ID          string    `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	URL         string    `json:"url" example:"https://hooks.example.com/authsvc"`
	Events      []string  `json:"events" example:"user.created"`
	Description string    `json:"description" example:"The CRM's sync"`
	Disabled    bool      `json:"disabled" example:"false"`
	CreatedAt   time.Time `json:"created_at" example:"2026-01-02T15:04:05Z"`
} // @name Webhook

// WebhookResponse wraps one webhook.
type WebhookResponse struct {
	Webhook Webhook `json:"webhook"`
} // @name WebhookResponse

// WebhooksResponse lists webhooks.
type WebhooksResponse struct {
	Webhooks []Webhook `json:"webhooks"`
} // @name WebhooksResponse

// WebhookCreatedResponse is a new webhook and its signing secret, shown only here.
type WebhookCreatedResponse struct {
	Webhook Webhook `json:"webhook"`
	// Secret signs the deliveries (Standard Webhooks: the base64 after
	// "whsec_" is the HMAC-SHA256 key).
	Secret string `json:"secret" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
} // @name WebhookCreatedResponse

// WebhookDelivery is one event sent, or to be sent, to a webhook.
type WebhookDelivery struct {
	ID             string     `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Event          string     `json:"event" example:"user.created"`
	Status         string     `json:"status" enums:"pending,delivered,failed" example:"delivered"`
	Attempts       int        `json:"attempts" example:"1"`
	LastStatusCode *int       `json:"last_status_code" example:"200" extensions:"x-nullable"`
	LastError      string     `json:"last_error" example:""`
	CreatedAt      time.Time  `json:"created_at" example:"2026-01-02T15:04:05Z"`
	DeliveredAt    *time.Time `json:"delivered_at" example:"2026-01-02T15:04:06Z" extensions:"x-nullable"`
} // @name WebhookDelivery

// WebhookDeliveriesResponse lists a webhook's latest deliveries.
type WebhookDeliveriesResponse struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
} // @name WebhookDeliveriesResponse

// WebhookTestResponse names the test event queued.
type WebhookTestResponse struct {
	EventID string `json:"event_id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
} // @name WebhookTestResponse

func webhookView(w *models.Webhook) Webhook {
	return Webhook{ID: w.ID.String(), URL: w.URL, Events: orEmpty(webhooks.EventList(w)), Description: w.Description,
		Disabled: w.Disabled, CreatedAt: w.CreatedAt.UTC()}
}

func deliveryView(d *models.WebhookDelivery) WebhookDelivery {
	return WebhookDelivery{ID: d.ID.String(), Event: d.EventType, Status: d.Status, Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(), DeliveredAt: utcPtr(d.DeliveredAt)}
}

// CreateWebhookRequest defines a webhook.
type CreateWebhookRequest struct {
	// URL receives the events: https, of a public host (http and private
	// addresses too with WEBHOOK_ALLOW_PRIVATE=true).
	URL string `json:"url" validate:"required,max=2048" example:"https://hooks.example.com/authsvc"`
	// Events are the event types sent; "*" for all.
	Events      []string `json:"events" validate:"required,min=1,max=50,dive,required,max=64" example:"user.created"`
	Description string   `json:"description" validate:"max=200" example:"The CRM's sync"`
} // @name CreateWebhookRequest

func (r *CreateWebhookRequest) normalize() {
	r.URL, r.Description = strings.TrimSpace(r.URL), strings.TrimSpace(r.Description)
}

// createWebhook godoc
//
//	@ID				createWebhook
//	@Summary		Create a webhook
//	@Description	An endpoint that receives the events listed (known types, or "*" for all), signed as Standard Webhooks say (webhook-id, webhook-timestamp, webhook-signature). The URL must be https and of a public host, unless WEBHOOK_ALLOW_PRIVATE=true. The signing secret is in this answer only; the database keeps it sealed. Needs webhooks:write.
//	@Tags			webhooks
//	@Accept			json
//	@Produce		json
//	@Param			body	body		CreateWebhookRequest	true	"The new webhook"
//	@Success		201		{object}	WebhookCreatedResponse
//	@Failure		400		{object}	problem.Error	"validation_failed: a bad url, an unknown event type, a long description"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: webhooks:write is required"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/webhooks [post]
func (h *Webhooks) createWebhook(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.CreateWebhook)
	if err != nil {
		return err
	}
	req, err := decode[CreateWebhookRequest](c)
	if err != nil {
		return err
	}
	w, plain, err := h.Webhooks.Create(c.Request().Context(), by,
		webhooks.Input{URL: &req.URL, Events: &req.Events, Description: &req.Description})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Pragma", "no-cache")
	return c.JSON(http.StatusCreated, WebhookCreatedResponse{Webhook: webhookView(w), Secret: plain})
}

// listWebhooks godoc
//
//	@ID				listWebhooks
//	@Summary		List webhooks
//	@Description	Every webhook, oldest first. Needs webhooks:read.
//	@Tags			webhooks
//	@Produce		json
//	@Success		200	{object}	WebhooksResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: webhooks:read is required"
//	@Security		BearerAuth
//	@Router			/v1/webhooks [get]
func (h *Webhooks) listWebhooks(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ListWebhooks)
	if err != nil {
		return err
	}
	list, err := h.Webhooks.List(c.Request().Context(), by)
	if err != nil {
		return err
	}
	out := WebhooksResponse{Webhooks: make([]Webhook, len(list))}
	for i := range list {
		out.Webhooks[i] = webhookView(&list[i])
	}
	return c.JSON(http.StatusOK, out)
}

// getWebhook godoc
//
//	@ID				getWebhook
//	@Summary		Read a webhook
//	@Description	Needs webhooks:read.
//	@Tags			webhooks
//	@Produce		json
//	@Param			id	path		string	true	"Webhook id"	format(uuid)
//	@Success		200	{object}	WebhookResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: webhooks:read is required"
//	@Failure		404	{object}	problem.Error	"webhook_not_found"
//	@Security		BearerAuth
//	@Router			/v1/webhooks/{id} [get]
func (h *Webhooks) getWebhook(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.ReadWebhook, webhooks.ErrNotFound)
	if err != nil {
		return err
	}
	w, err := h.Webhooks.Get(c.Request().Context(), by, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, WebhookResponse{Webhook: webhookView(w)})
}

// UpdateWebhookRequest changes a webhook; absent fields stay as they are.
type UpdateWebhookRequest struct {
	URL         *string   `json:"url,omitempty" validate:"omitnil,min=1,max=2048" example:"https://hooks.example.com/authsvc"`
	Events      *[]string `json:"events,omitempty" validate:"omitnil,min=1,max=50,dive,required,max=64" example:"user.created" binding:"optional"`
	Description *string   `json:"description,omitempty" validate:"omitnil,max=200" example:"The CRM's sync"`
	Disabled    *bool     `json:"disabled,omitempty" example:"true"`
} // @name UpdateWebhookRequest

func (r *UpdateWebhookRequest) normalize() {
	trimSpaces(r.URL, r.Description)
}

// updateWebhook godoc
//
//	@ID				updateWebhook
//	@Summary		Change a webhook
//	@Description	Any of url, events, description, disabled (the same rules as at creation). A disabled webhook is sent no new event. The secret stays. Needs webhooks:write.
//	@Tags			webhooks
//	@Accept			json
//	@Produce		json
//	@Param			id		path		string					true	"Webhook id"	format(uuid)
//	@Param			body	body		UpdateWebhookRequest	true	"The changes"
//	@Success		200		{object}	WebhookResponse
//	@Failure		400		{object}	problem.Error	"validation_failed: a bad url, an unknown event type, a long description"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: webhooks:write is required"
//	@Failure		404		{object}	problem.Error	"webhook_not_found"
//	@Failure		413		{object}	problem.Error	"body_too_large: the body exceeds 1 MiB"
//	@Failure		415		{object}	problem.Error	"unsupported_media_type: send application/json"
//	@Security		BearerAuth
//	@Router			/v1/webhooks/{id} [patch]
func (h *Webhooks) updateWebhook(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.UpdateWebhook, webhooks.ErrNotFound)
	if err != nil {
		return err
	}
	req, err := decode[UpdateWebhookRequest](c)
	if err != nil {
		return err
	}
	w, err := h.Webhooks.Update(c.Request().Context(), by, id, webhooks.Input{
		URL: req.URL, Events: req.Events, Description: req.Description, Disabled: req.Disabled,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, WebhookResponse{Webhook: webhookView(w)})
}

// deleteWebhook godoc
//
//	@ID				deleteWebhook
//	@Summary		Delete a webhook
//	@Description	With its deliveries: what is still queued for it is not sent. Needs webhooks:write.
//	@Tags			webhooks
//	@Produce		json
//	@Param			id	path	string	true	"Webhook id"	format(uuid)
//	@Success		204
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: webhooks:write is required"
//	@Failure		404	{object}	problem.Error	"webhook_not_found"
//	@Security		BearerAuth
//	@Router			/v1/webhooks/{id} [delete]
func (h *Webhooks) deleteWebhook(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.DeleteWebhook, webhooks.ErrNotFound)
	if err != nil {
		return err
	}
	if err := h.Webhooks.Delete(c.Request().Context(), by, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listWebhookDeliveries godoc
//
//	@ID				listWebhookDeliveries
//	@Summary		List a webhook's deliveries
//	@Description	The latest 100 deliveries, newest first: pending (queued or being retried), delivered (a 2xx answer) or failed (retried for 24 hours in vain). Needs webhooks:read.
//	@Tags			webhooks
//	@Produce		json
//	@Param			id	path		string	true	"Webhook id"	format(uuid)
//	@Success		200	{object}	WebhookDeliveriesResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: webhooks:read is required"
//	@Failure		404	{object}	problem.Error	"webhook_not_found"
//	@Security		BearerAuth
//	@Router			/v1/webhooks/{id}/deliveries [get]
func (h *Webhooks) listWebhookDeliveries(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.ReadWebhook, webhooks.ErrNotFound)
	if err != nil {
		return err
	}
	list, err := h.Webhooks.Deliveries(c.Request().Context(), by, id)
	if err != nil {
		return err
	}
	out := WebhookDeliveriesResponse{Deliveries: make([]WebhookDelivery, len(list))}
	for i := range list {
		out.Deliveries[i] = deliveryView(&list[i])
	}
	return c.JSON(http.StatusOK, out)
}

// testWebhook godoc
//
//	@ID				testWebhook
//	@Summary		Send a webhook a test event
//	@Description	Queues a webhook.test event (data: webhook_id) for this webhook only, whatever events it takes; it is delivered, signed and retried like any other (GET /v1/webhooks/{id}/deliveries follows it). For a disabled webhook it waits until the webhook is enabled again. Needs webhooks:write.
//	@Tags			webhooks
//	@Produce		json
//	@Param			id	path		string	true	"Webhook id"	format(uuid)
//	@Success		202	{object}	WebhookTestResponse
//	@Failure		401	{object}	problem.Error
//	@Failure		403	{object}	problem.Error	"forbidden: webhooks:write is required"
//	@Failure		404	{object}	problem.Error	"webhook_not_found"
//	@Security		BearerAuth
//	@Router			/v1/webhooks/{id}/test [post]
func (h *Webhooks) testWebhook(c echo.Context) error {
	by, id, err := actorForID(c, h.Accounts, policy.TestWebhook, webhooks.ErrNotFound)
	if err != nil {
		return err
	}
	eventID, err := h.Webhooks.Test(c.Request().Context(), by, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, WebhookTestResponse{EventID: eventID.String()})
}
