package store

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
)

// Webhook event types (the contract's "Webhooks and hooks" section).
const (
	EventUserCreated      = "user.created"
	EventUserUpdated      = "user.updated"
	EventUserDeleted      = "user.deleted"
	EventUserLogin        = "user.login"
	EventUserLocked       = "user.locked"
	EventSessionRevoked   = "session.revoked"
	EventPasswordChanged  = "password.changed"
	EventPasswordReset    = "password.reset"
	EventEmailVerified    = "email.verified"
	EventEmailChanged     = "email.changed"
	EventMFAEnabled       = "mfa.enabled"
	EventMFADisabled      = "mfa.disabled"
	EventPasskeyAdded     = "passkey.added"
	EventPasskeyRemoved   = "passkey.removed"
	EventIdentityLinked   = "identity.linked"
	EventIdentityUnlinked = "identity.unlinked"
	EventClientCreated    = "client.created"
	EventClientDeleted    = "client.deleted"
	EventWebhookTest      = "webhook.test"
)

// WebhookEventTypes lists every event type a webhook may subscribe to
// ("*" aside), webhook.test included: for validating a webhook's events.
func WebhookEventTypes() []string {
	return []string{
		EventUserCreated, EventUserUpdated, EventUserDeleted, EventUserLogin, EventUserLocked,
		EventSessionRevoked, EventPasswordChanged, EventPasswordReset,
		EventEmailVerified, EventEmailChanged, EventMFAEnabled, EventMFADisabled,
		EventPasskeyAdded, EventPasskeyRemoved, EventIdentityLinked, EventIdentityUnlinked,
		EventClientCreated, EventClientDeleted, EventWebhookTest,
	}
}

// IsWebhookEventType tells whether typ is one of WebhookEventTypes.
func IsWebhookEventType(typ string) bool { return slices.Contains(WebhookEventTypes(), typ) }

// eventRule turns one audit type into a webhook event. fields is the
// whitelist of audit details copied into data, by detail key → data key:
// nothing else of the details leaves (never an IP, user agent, secret, hash
// or token; those are not in the details anyway, nor in this list).
type eventRule struct {
	typ      string
	fields   map[string]string
	static   map[string]any // fixed data fields
	needUser bool           // no event without a user (an unknown account's lockout)
}

// common are the details kept for every event: how the change was made.
var common = map[string]string{"via": "via"}

// webhookEvents maps audit types to webhook events: the one table of it.
var webhookEvents = map[string]eventRule{
	audit.Signup:      {typ: EventUserCreated, fields: keep("roles", "status", "method"), static: map[string]any{"by": "signup"}},
	audit.UserCreated: {typ: EventUserCreated, fields: keep("roles", "status", "method", "resources")},
	// user_updated holds the changed fields' names, never their values.
	audit.UserUpdated:     {typ: EventUserUpdated, fields: map[string]string{"changed": "fields", "sessions_revoked": "sessions_revoked"}},
	audit.UserDeleted:     {typ: EventUserDeleted, fields: keep("self", "sessions_revoked")},
	audit.LoginSucceeded:  {typ: EventUserLogin, fields: keep("session_id", "amr", "method", "remember")},
	audit.PasskeyLogin:    {typ: EventUserLogin, fields: keep("session_id", "passkey_id"), static: map[string]any{"method": "passkey"}},
	audit.LoginLocked:     {typ: EventUserLocked, fields: keep("locked_until", "lock_count"), needUser: true},
	audit.Logout:          {typ: EventSessionRevoked, fields: keep("all", "sessions"), static: map[string]any{"by": "logout"}},
	audit.SessionsRevoked: {typ: EventSessionRevoked, fields: keep("session_id", "sessions", "sessions_revoked", "current")},
	audit.PasswordChanged: {typ: EventPasswordChanged, fields: keep("sessions_revoked")},
	audit.PasswordReset:   {typ: EventPasswordReset, fields: keep("sessions_revoked", "email_verified")},
	// email_verified becomes email.changed when it confirmed a new address (eventType).
	audit.EmailVerified:    {typ: EventEmailVerified, fields: keep("by", "sessions_revoked")},
	audit.MFAEnabled:       {typ: EventMFAEnabled, fields: keep("method", "sessions_revoked")},
	audit.MFADisabled:      {typ: EventMFADisabled, fields: keep("method", "by", "reason", "sessions_revoked")},
	audit.PasskeyAdded:     {typ: EventPasskeyAdded, fields: keep("passkey_id")},
	audit.PasskeyRemoved:   {typ: EventPasskeyRemoved, fields: keep("passkey_id", "sessions_revoked")},
	audit.IdentityLinked:   {typ: EventIdentityLinked, fields: keep("identity_id", "provider", "by")},
	audit.IdentityUnlinked: {typ: EventIdentityUnlinked, fields: keep("identity_id", "provider", "sessions_revoked")},
	audit.ClientCreated:    {typ: EventClientCreated, fields: keep("client_id", "client", "permissions")},
	audit.ClientDeleted:    {typ: EventClientDeleted, fields: keep("client_id", "client")},
}

func keep(keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = k
	}
	return m
}

// webhookEvent is the webhook event an audit event makes, if any: its type
// and a builder of its body (called only when some webhook wants it).
func webhookEvent(e *models.AuditEvent) (typ string, body func() ([]byte, error), ok bool) {
	rule, ok := webhookEvents[e.Type]
	if !ok || (rule.needUser && e.UserID == nil) {
		return "", nil, false
	}
	var details map[string]any
	if e.Details != "" {
		_ = json.Unmarshal([]byte(e.Details), &details) // malformed: no details
	}
	typ = rule.typ
	if e.Type == audit.EmailVerified && details["changed_address"] == true {
		typ = EventEmailChanged
	}
	body = func() ([]byte, error) {
		data := map[string]any{}
		for k, v := range rule.static {
			data[k] = v
		}
		for _, fields := range []map[string]string{common, rule.fields} {
			for from, to := range fields {
				if v, ok := details[from]; ok {
					data[to] = v
				}
			}
		}
		if e.UserID != nil {
			data["user_id"] = *e.UserID
		}
		if e.ActorID != nil {
			data["actor_id"] = *e.ActorID
		}
		return EventPayload(e.ID, typ, e.CreatedAt, data)
	}
	return typ, body, true
}

// EventPayload is the JSON body of a webhook event:
// {"id", "type", "timestamp" (RFC 3339, UTC), "data"}.
func EventPayload(id uuid.UUID, typ string, at time.Time, data map[string]any) ([]byte, error) {
	if data == nil {
		data = map[string]any{}
	}
	return json.Marshal(struct {
		ID        uuid.UUID      `json:"id"`
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}{id, typ, at.UTC().Format(time.RFC3339Nano), data})
}
