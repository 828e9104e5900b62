// Package audit builds security events. Events are written by the store on the
// same transaction as the change they record.
package audit

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// Event types, as listed in the contract's Audit section.
const (
	Signup               = "signup"
	SignupRejected       = "signup_rejected"
	LoginSucceeded       = "login_succeeded"
	LoginFailed          = "login_failed"
	LoginLocked          = "login_locked"
	ReauthFailed         = "reauth_failed" // a signed-in user's wrong password (it counts toward the lockout)
	Logout               = "logout"
	TokenRefreshed       = "token_refreshed"
	RefreshReuseDetected = "refresh_reuse_detected"
	PasswordChanged      = "password_changed"
	PasswordResetRequest = "password_reset_requested"
	PasswordReset        = "password_reset"
	UserCreated          = "user_created"
	UserUpdated          = "user_updated"
	UserDeleted          = "user_deleted"
	UsersWiped           = "users_wiped"
	UsersImported        = "users_imported" // one per import batch, with counts
	RoleChanged          = "role_changed"
	RoleCreated          = "role_created"
	RoleUpdated          = "role_updated"
	RoleDeleted          = "role_deleted"
	SessionsRevoked      = "sessions_revoked"
	KeyRotated           = "key_rotated"
	AdminBootstrapped    = "admin_bootstrapped"

	EmailVerificationSent    = "email_verification_sent"
	EmailVerified            = "email_verified"
	EmailChangeRequested     = "email_change_requested"
	MFAEnabled               = "mfa_enabled"
	MFADisabled              = "mfa_disabled"
	MFAFailed                = "mfa_failed"
	RecoveryCodeUsed         = "recovery_code_used"
	RecoveryCodesRegenerated = "recovery_codes_regenerated"
	PasskeyAdded             = "passkey_added"
	PasskeyRemoved           = "passkey_removed"
	PasskeyLogin             = "passkey_login"
	PasskeyCloneSuspected    = "passkey_clone_suspected"
	IdentityLinked           = "identity_linked"
	IdentityUnlinked         = "identity_unlinked"

	ClientCreated        = "client_created"
	ClientUpdated        = "client_updated"
	ClientSecretRotated  = "client_secret_rotated"
	ClientDeleted        = "client_deleted"
	ClientTokenIssued    = "client_token_issued" // sampled: at most one per client a minute
	PersonalTokenCreated = "personal_token_created"
	PersonalTokenRevoked = "personal_token_revoked"
	WebhookCreated       = "webhook_created"
	WebhookUpdated       = "webhook_updated"
	WebhookDeleted       = "webhook_deleted"

	EmailCodeSent  = "email_code_sent" // a sign-in code's mail, queued or not sent (details.reason)
	UserInvited    = "user_invited"
	InviteAccepted = "invite_accepted"
)

// Client is who made the request: its address and user agent.
type Client struct {
	IP        string
	UserAgent string
}

// maxUserAgent bounds what a client can make us store.
const maxUserAgent = 512

// NewClient describes a caller. The user agent is whatever the client sent, so
// it is cut to size and made storable: valid UTF-8 without NUL bytes.
func NewClient(ip, userAgent string) Client {
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	return Client{IP: storable(ip), UserAgent: storable(userAgent)}
}

func storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Details are extra facts about an event. Never put a secret in them.
type Details map[string]any

// Event builds an event; actor and user may be uuid.Nil when unknown.
func Event(typ string, now time.Time, actor, user uuid.UUID, c Client, d Details) *models.AuditEvent {
	details := "{}"
	if len(d) > 0 {
		b, err := json.Marshal(d)
		if err == nil {
			details = string(b)
		}
	}
	return &models.AuditEvent{
		ID:        uuid.Must(uuid.NewV7()),
		Type:      typ,
		ActorID:   optional(actor),
		UserID:    optional(user),
		IP:        c.IP,
		UserAgent: c.UserAgent,
		Details:   details,
		CreatedAt: now,
	}
}

func optional(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
