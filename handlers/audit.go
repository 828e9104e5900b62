package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/store"
)

// Audit serves the audit log.
type Audit struct {
	Accounts *accounts.Service
	Cursors  Cursors
}

// AuditEvent is one security event.
type AuditEvent struct {
	ID   string `json:"id" example:"0193b6c4-9b21-7e33-a4d5-6f7a8b9c0d1e"`
	Type string `json:"type" example:"role_changed"`
	// ActorID is who did it; null when nobody signed in (failed login, command line).
	ActorID *string `json:"actor_id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f" extensions:"x-nullable"`
	// UserID is the user the event is about; null when none.
	UserID    *string   `json:"user_id" example:"0193b6c4-8a10-7d22-b3c4-5e6f7a8b9c0d" extensions:"x-nullable"`
	IP        string    `json:"ip" example:"203.0.113.7"`
	UserAgent string    `json:"user_agent" example:"Mozilla/5.0"`
	CreatedAt time.Time `json:"created_at" example:"2026-01-02T15:04:05Z"`
	// Details are facts about the event (a JSON object); never a secret.
	Details json.RawMessage `json:"details" swaggertype:"object"`
} // @name AuditEvent

// AuditEventsResponse is a page of audit events, newest first.
type AuditEventsResponse struct {
	Events []AuditEvent `json:"events"`
	// NextCursor fetches the next (older) page; absent on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
} // @name AuditEventsResponse

// listAudit godoc
//
//	@ID				listAudit
//	@Summary		List audit events
//	@Description	Newest first, keyset-paginated: follow next_cursor until it is absent.
//	@Tags			audit
//	@Produce		json
//	@Param			limit	query		int		false	"Page size, 1 to 200"	minimum(1)	maximum(200)	default(50)
//	@Param			cursor	query		string	false	"next_cursor of the previous page"
//	@Param			user_id	query		string	false	"Only events about this user"	format(uuid)
//	@Param			type	query		string	false	"Only events of this type, e.g. login_failed"	maxlength(64)
//	@Success		200		{object}	AuditEventsResponse
//	@Failure		400		{object}	problem.Error	"invalid_cursor, validation_failed"
//	@Failure		401		{object}	problem.Error
//	@Failure		403		{object}	problem.Error	"forbidden: audit:read is required"
//	@Security		BearerAuth
//	@Router			/v1/audit [get]
func (h *Audit) listAudit(c echo.Context) error {
	by, err := actorFor(c, h.Accounts, policy.ReadAudit)
	if err != nil {
		return err
	}
	f, err := h.filter(c)
	if err != nil {
		return err
	}
	limit := f.Limit
	f.Limit++ // one more tells whether another page follows
	list, err := h.Accounts.Audit(c.Request().Context(), by, f)
	if err != nil {
		return err
	}
	out := AuditEventsResponse{Events: make([]AuditEvent, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		out.NextCursor = h.Cursors.Encode(list[limit-1].ID)
	}
	for i := range list {
		out.Events = append(out.Events, auditView(&list[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// filter reads the query of GET /v1/audit.
func (h *Audit) filter(c echo.Context) (store.AuditFilter, error) {
	limit, err := pageLimit(c)
	if err != nil {
		return store.AuditFilter{}, err
	}
	before, err := h.Cursors.Decode(c.QueryParam("cursor"))
	if err != nil {
		return store.AuditFilter{}, err
	}
	f := store.AuditFilter{Type: c.QueryParam("type"), Before: before, Limit: limit}
	if s := c.QueryParam("user_id"); s != "" {
		if f.UserID, err = uuid.Parse(s); err != nil {
			return f, problem.Invalid(problem.FieldError{Field: "user_id", Message: "must be a UUID"})
		}
	}
	if len(f.Type) > 64 {
		return f, problem.Invalid(problem.FieldError{Field: "type", Message: "must be at most 64 characters"})
	}
	return f, nil
}

func auditView(e *models.AuditEvent) AuditEvent {
	details := json.RawMessage(e.Details)
	if !json.Valid(details) || len(details) == 0 || details[0] != '{' {
		details = json.RawMessage("{}")
	}
	return AuditEvent{
		ID: e.ID.String(), Type: e.Type, ActorID: idString(e.ActorID), UserID: idString(e.UserID),
		IP: e.IP, UserAgent: e.UserAgent, CreatedAt: e.CreatedAt.UTC(), Details: details,
	}
}

func idString(id *uuid.UUID) *string {
	if id == nil {
		return nil
	}
	s := id.String()
	return &s
}
