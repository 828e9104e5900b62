// Package models holds the GORM structs that mirror the database tables.
// It contains no queries: the store package owns every read and write.
package models

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// User statuses as stored. "locked" is never stored: it is derived from LockedUntil.
const (
	StatusPending  = "pending"
	StatusActive   = "active"
	StatusDisabled = "disabled"
	StatusLocked   = "locked"
)

// Statuses are every status a client may see or filter on.
var Statuses = []string{StatusPending, StatusActive, StatusDisabled, StatusLocked}

// SortedSet returns the strings sorted, without repeats; never nil (it is
// written to JSON and audit details as a list).
func SortedSet(in []string) []string {
	out := slices.Clone(in)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Built-in role names.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// Permissions are data held by roles; these are every one the service knows.
// The built-in admin role holds all of them, the built-in user role none.
const (
	PermUsersRead     = "users:read"
	PermUsersWrite    = "users:write"
	PermRolesRead     = "roles:read"
	PermRolesWrite    = "roles:write"
	PermSessionsRead  = "sessions:read"
	PermSessionsWrite = "sessions:write"
	PermAuditRead     = "audit:read"
	PermClientsRead   = "clients:read"
	PermClientsWrite  = "clients:write"
	PermWebhooksRead  = "webhooks:read"
	PermWebhooksWrite = "webhooks:write"
)

var Permissions = []string{
	PermUsersRead, PermUsersWrite,
	PermRolesRead, PermRolesWrite,
	PermSessionsRead, PermSessionsWrite,
	PermAuditRead,
	PermClientsRead, PermClientsWrite,
	PermWebhooksRead, PermWebhooksWrite,
}

type User struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	Email        string
	Username     string
	EmailKey     string // Email in its ASCII form, folded (store.EmailKey): what uniqueness and lookups compare
	UsernameKey  string // Username folded (store.FoldKey)
	FirstName    string
	LastName     string
	PasswordHash string
	Status       string
	// Lockout state: consecutive failures, how many locks so far, and until when.
	FailedLogins int
	LockCount    int
	LockedUntil  *time.Time
	LastLoginAt  *time.Time
	// Verified email: when the address was confirmed (nil: not yet), and the
	// address waiting for its confirmation link.
	EmailVerifiedAt *time.Time
	PendingEmail    *string
	// TOTP: the secret sealed with SECRET_KEY (set at enrolment), on from
	// TOTPEnabledAt; TOTPLastStep is the last time step accepted (replays fail).
	TOTPSecretSealed []byte     `gorm:"column:totp_secret_sealed"`
	TOTPEnabledAt    *time.Time `gorm:"column:totp_enabled_at"`
	TOTPLastStep     int64      `gorm:"column:totp_last_step"`
	// TOTPEnrolFailures counts wrong codes typed to confirm the enrolment in progress.
	TOTPEnrolFailures int `gorm:"column:totp_enrol_failures"`
	RecoveryCodesLeft int
	PasskeyCount      int
	// IdentityProviders names the providers of the linked external
	// identities, space-separated and sorted, kept with the user (as
	// PasskeyCount) so a user view needs no query of its own.
	IdentityProviders string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// TOTPEnabled reports whether login needs a TOTP code (or a recovery code).
func (u *User) TOTPEnabled() bool { return u.TOTPEnabledAt != nil }

// EffectiveStatus is the status clients see: disabled wins over locked.
func (u *User) EffectiveStatus(now time.Time) string {
	if u.Status == StatusActive && u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		return StatusLocked
	}
	return u.Status
}

type Role struct {
	Name        string `gorm:"primaryKey"`
	Description string
	Builtin     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

type RolePermission struct {
	RoleName   string `gorm:"primaryKey"`
	Permission string `gorm:"primaryKey"`
}

type UserRole struct {
	UserID   uuid.UUID `gorm:"primaryKey"`
	RoleName string    `gorm:"primaryKey"`
}

// UserResource is one resource grant (an opaque id, the seeds' "assistants").
type UserResource struct {
	UserID   uuid.UUID `gorm:"primaryKey"`
	Resource string    `gorm:"primaryKey"`
}

type Session struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	UserID       uuid.UUID
	CreatedAt    time.Time
	LastUsedAt   time.Time
	ExpiresAt    time.Time
	RevokedAt    *time.Time
	RevokeReason string
	IP           string
	UserAgent    string
	Remember     bool
	// AMR is how the session was authenticated: RFC 8176 values, space-separated.
	AMR string `gorm:"column:amr"`
	// FactorID is the passkey or the linked identity the session was opened with, if any.
	FactorID *uuid.UUID
	// IDP is the external identity provider the session was opened with ("": none).
	IDP string `gorm:"column:idp"`
}

// Authentication methods (RFC 8176) a session may record.
const (
	AMRPassword  = "pwd"
	AMRPAT       = "pat" // a personal access token (not a session; authsvc's own value)
	AMROTP       = "otp"
	AMRMFA       = "mfa"
	AMRHardware  = "hwk"
	AMRUser      = "user"
	AMRFederated = "fed"
	AMREmail     = "email" // a code or link mailed to the account's address (authsvc's own value)
)

// RefreshToken rows hold only a MAC of the token. When a token is retired its
// successor is kept sealed (encrypted with SECRET_KEY) so that a retry within the
// grace window can be answered with the same successor.
type RefreshToken struct {
	ID              uuid.UUID `gorm:"primaryKey"`
	SessionID       uuid.UUID
	TokenHash       []byte
	CreatedAt       time.Time
	RetiredAt       *time.Time
	SuccessorID     *uuid.UUID
	SuccessorSealed []byte
}

// Revocation is one entry of the revocation feed; it outlives the session row.
type Revocation struct {
	Seq       int64 `gorm:"primaryKey;autoIncrement"`
	SessionID uuid.UUID
	ExpiresAt time.Time // when the last access token of the session expires
	CreatedAt time.Time
}

// Signing key states, in lifecycle order.
const (
	KeyNext     = "next"
	KeyCurrent  = "current"
	KeyRetiring = "retiring"
	KeyRetired  = "retired"
)

type SigningKey struct {
	KID           string `gorm:"column:kid;primaryKey"`
	Alg           string
	State         string
	PublicJWK     string `gorm:"column:public_jwk"` // JSON
	PrivateSealed []byte // PKCS#8 DER, sealed with SECRET_KEY
	CreatedAt     time.Time
	ActivatedAt   *time.Time // when it became current
	RetireAfter   *time.Time // when a retiring key stops verifying
}

type PasswordResetToken struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	UserID    uuid.UUID
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Email token purposes: confirm the account's address, or the address it asked to change to.
const (
	EmailVerify = "verify"
	EmailChange = "change"
	EmailInvite = "invite" // an invitation: the link sets the first password
)

// EmailToken is a mailed link's token, stored as a MAC; single use.
type EmailToken struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	UserID    uuid.UUID
	TokenHash []byte
	Purpose   string // EmailVerify, EmailChange or EmailInvite
	Email     string // the address the link confirms
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// RecoveryCode is one of a user's recovery codes, as a MAC; it works once.
type RecoveryCode struct {
	UserID   uuid.UUID `gorm:"primaryKey"`
	CodeHash []byte    `gorm:"primaryKey"`
	UsedAt   *time.Time
}

// MFAChallenge is the second step a correct password earned a user with TOTP
// on: a single-use token (as a MAC), bound to the login's remember choice.
type MFAChallenge struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	UserID    uuid.UUID
	TokenHash []byte
	Remember  bool
	Failures  int
	// How the first step authenticated the user: its amr (space-separated),
	// the identity it used and that identity's provider (none for a password).
	AMR       string `gorm:"column:amr"`
	FactorID  *uuid.UUID
	IDP       string `gorm:"column:idp"`
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (MFAChallenge) TableName() string { return "mfa_challenges" }

// Passkey is a user's WebAuthn credential.
type Passkey struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	UserID       uuid.UUID
	CredentialID []byte
	Credential   string // the verifier's credential record, JSON
	Name         string
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// Identity is an account at an external identity provider, linked to a user:
// the provider's name and its subject (the id it gives the person) name it.
type Identity struct {
	ID         uuid.UUID `gorm:"primaryKey"`
	UserID     uuid.UUID
	Provider   string
	Subject    string
	Email      string // as the provider last said
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// ProviderFlow is a sign-in (or a link) with a provider in progress, from
// authorize to callback: its state as a MAC, single use. The nonce and the
// PKCE verifier sent to the provider derive from the state, so neither is stored.
type ProviderFlow struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	StateHash     []byte
	Provider      string
	UserID        *uuid.UUID // linking: the account that asked; nil for a sign-in
	RedirectURI   string     // the app's, one of REDIRECT_URLS
	CodeChallenge string     // the app's PKCE S256 challenge
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

// ProviderCode is the one-time code a callback gives the app, as a MAC, bound
// to the app's code challenge; the exchange spends it.
type ProviderCode struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	CodeHash      []byte
	UserID        uuid.UUID
	IdentityID    uuid.UUID
	CodeChallenge string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

// WebAuthn ceremony kinds.
const (
	CeremonyRegister = "register"
	CeremonyLogin    = "login"
)

// WebAuthnChallenge is a WebAuthn ceremony in progress; single use.
type WebAuthnChallenge struct {
	ID        uuid.UUID  `gorm:"primaryKey"`
	UserID    *uuid.UUID // the registering user; nil for a login
	Kind      string
	Session   string // the verifier's session data, JSON
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (WebAuthnChallenge) TableName() string { return "webauthn_challenges" }

// LoginLockout counts failed logins of an identifier that names no account,
// as users.failed_logins, lock_count and locked_until do for an account.
type LoginLockout struct {
	KeyHash      []byte `gorm:"primaryKey"` // MAC of the normalised identifier
	FailedLogins int
	LockCount    int
	LockedUntil  *time.Time
	UpdatedAt    time.Time
}

type AuditEvent struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	Type      string
	ActorID   *uuid.UUID
	UserID    *uuid.UUID
	IP        string
	UserAgent string
	Details   string // JSON object, never a secret
	CreatedAt time.Time
}

// OutboxMail is a queued mail. The payload (recipient, subject, bodies) is sealed
// with SECRET_KEY because reset mails carry a live token.
type OutboxMail struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	PayloadSealed []byte
	Attempts      int
	NextAttemptAt time.Time
	ClaimedUntil  *time.Time
	SentAt        *time.Time
	LastError     string
	CreatedAt     time.Time
	ExpiresAt     *time.Time // not sent from then on, because the link in it has expired; nil: never
	GivenUpAt     *time.Time // when the worker gave it up unsent
}

func (OutboxMail) TableName() string { return "mail_outbox" }

// Client is a service client (OAuth 2.0 client credentials): a program that
// signs in as itself, with the permissions an admin gave it.
type Client struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	Name        string
	Description string
	Permissions string // space-separated, sorted
	Disabled    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastUsedAt  *time.Time
}

// ClientSecret is one of a client's secrets, as a MAC. The access tokens
// issued with it carry its SID; giving it a new one ends them all.
type ClientSecret struct {
	ID         uuid.UUID `gorm:"primaryKey"`
	ClientID   uuid.UUID
	SecretHash []byte
	SID        uuid.UUID `gorm:"column:sid"`
	CreatedAt  time.Time
	ExpiresAt  *time.Time // the end of a rotation's overlap; nil: until rotated
}

// LiveAt reports whether the secret still works at now.
func (s *ClientSecret) LiveAt(now time.Time) bool {
	return s.ExpiresAt == nil || now.Before(*s.ExpiresAt)
}

// PersonalToken is a user's personal access token, as a MAC: an opaque,
// scoped credential for scripts, acting as its user with at most Permissions.
type PersonalToken struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	UserID      uuid.UUID
	Name        string
	TokenHash   []byte
	Permissions string // space-separated, sorted
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  *time.Time
}

// EmailCode is a sign-in by email in progress: an 8-digit code and a link's
// token mailed together to one address, both as MACs. Either works once,
// until ExpiresAt; the code dies after a few wrong tries. UserID is nil while
// the address has no account (a sign-up by code).
type EmailCode struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	EmailKey  string    // the address folded (store.EmailKey)
	Email     string
	UserID    *uuid.UUID
	CodeHash  []byte
	TokenHash []byte
	Failures  int
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}
