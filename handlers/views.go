package handlers

import (
	"strings"
	"time"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// User is the full user record, shown to the user themself and to readers of users.
type User struct {
	ID          string     `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Email       string     `json:"email" example:"ada@example.com"`
	Username    string     `json:"username" example:"ada"`
	FirstName   string     `json:"first_name" example:"Ada"`
	LastName    string     `json:"last_name" example:"Lovelace"`
	Roles       []string   `json:"roles" example:"user"`
	Permissions []string   `json:"permissions" example:"users:read"`
	Resources   []string   `json:"resources" example:"assistant-42"`
	Status      string     `json:"status" enums:"pending,active,disabled,locked" example:"active"`
	CreatedAt   time.Time  `json:"created_at" example:"2026-01-02T15:04:05Z"`
	UpdatedAt   time.Time  `json:"updated_at" example:"2026-01-02T15:04:05Z"`
	LastLoginAt *time.Time `json:"last_login_at" example:"2026-01-02T15:04:05Z" extensions:"x-nullable"`
	// EmailVerified: the address was confirmed through a mailed link (or by an administrator).
	EmailVerified   bool       `json:"email_verified" example:"true"`
	EmailVerifiedAt *time.Time `json:"email_verified_at" example:"2026-01-02T15:04:05Z" extensions:"x-nullable"`
	// PendingEmail is the address waiting for its confirmation link, or null.
	PendingEmail *string   `json:"pending_email" example:"ada@new.example.com" extensions:"x-nullable"`
	MFA          MFAStatus `json:"mfa"`
	// Identities names the providers of the external identities linked to the account.
	Identities []string `json:"identities" example:"github"`
	// HasPassword is false for an account made by a provider's sign-in until a password is set (forgot-password).
	HasPassword bool `json:"has_password" example:"true"`
} // @name User

// MFAStatus says which second factors the user has.
type MFAStatus struct {
	TOTP              bool `json:"totp" example:"true"`
	RecoveryCodesLeft int  `json:"recovery_codes_left" example:"10"`
	Passkeys          int  `json:"passkeys" example:"0"`
} // @name MFAStatus

// PublicUser is what any signed-in user may see of another.
type PublicUser struct {
	ID        string `json:"id" example:"0193b6c4-7f3e-7cc1-9d0e-1a2b3c4d5e6f"`
	Username  string `json:"username" example:"ada"`
	FirstName string `json:"first_name" example:"Ada"`
	LastName  string `json:"last_name" example:"Lovelace"`
} // @name PublicUser

// UserResponse wraps one user, as every endpoint returning a user does.
type UserResponse struct {
	User User `json:"user"`
} // @name UserResponse

// TokenResponse is the answer to login, its second step and refresh. Every
// field is set (refresh_token but in cookie mode); they are omitted only in
// a LoginResponse that asks for the second step.
type TokenResponse struct {
	AccessToken  string `json:"access_token,omitempty" example:"eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9..."`
	TokenType    string `json:"token_type,omitempty" example:"Bearer"`
	ExpiresIn    int    `json:"expires_in" example:"900"`
	RefreshToken string `json:"refresh_token,omitempty" example:"q3Vb0s8N0m2x…"` // absent in cookie mode: the cookie carries it
	SessionID    string `json:"session_id,omitempty" example:"0193b6c4-8a10-7d22-b3c4-5e6f7a8b9c0d"`
	User         *User  `json:"user,omitempty"`
} // @name TokenResponse

// LoginResponse is the answer to a login: a TokenResponse, or, for a user
// with TOTP on, only the second step (mfa_required, mfa_token, methods, and
// expires_in: the mfa_token's lifetime).
type LoginResponse struct {
	TokenResponse
	MFARequired bool     `json:"mfa_required,omitempty" example:"false"`
	MFAToken    string   `json:"mfa_token,omitempty" example:"Jx3vQ0k2m8Yb1c4N7p9rT5wZ0aB2dF6hK8mP1sU3xW5"`
	Methods     []string `json:"methods,omitempty" example:"totp,recovery_code"`
} // @name LoginResult

// Session is one login session as its owner or an admin sees it.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at" example:"2026-01-02T15:04:05Z"`
	LastUsedAt time.Time `json:"last_used_at" example:"2026-01-02T15:04:05Z"`
	ExpiresAt  time.Time `json:"expires_at" example:"2026-01-02T15:04:05Z"`
	IP         string    `json:"ip" example:"203.0.113.7"`
	UserAgent  string    `json:"user_agent" example:"Mozilla/5.0"`
	Current    bool      `json:"current"`
} // @name Session

// SessionsResponse lists sessions.
type SessionsResponse struct {
	Sessions []Session `json:"sessions"`
} // @name SessionsResponse

// MessageResponse is a plain acknowledgement.
type MessageResponse struct {
	Message string `json:"message" example:"Logged out."`
} // @name MessageResponse

func userView(a *store.Account, now time.Time) User {
	return User{
		ID: a.ID.String(), Email: a.Email, Username: a.Username,
		FirstName: a.FirstName, LastName: a.LastName,
		Roles: a.Roles, Permissions: a.Permissions, Resources: a.Resources,
		Status:    a.EffectiveStatus(now),
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		LastLoginAt:   utcPtr(a.LastLoginAt),
		EmailVerified: a.EmailVerifiedAt != nil, EmailVerifiedAt: utcPtr(a.EmailVerifiedAt),
		PendingEmail: a.PendingEmail,
		MFA:          MFAStatus{TOTP: a.TOTPEnabled(), RecoveryCodesLeft: a.RecoveryCodesLeft, Passkeys: a.PasskeyCount},
		Identities:   orEmpty(strings.Fields(a.IdentityProviders)),
		HasPassword:  a.PasswordHash != "",
	}
}

func publicUserView(u *models.User) PublicUser {
	return PublicUser{ID: u.ID.String(), Username: u.Username, FirstName: u.FirstName, LastName: u.LastName}
}

func sessionView(s *models.Session, current bool) Session {
	return Session{
		ID: s.ID.String(), CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
		ExpiresAt: s.ExpiresAt.UTC(), IP: s.IP, UserAgent: s.UserAgent, Current: current,
	}
}

func sessionsView(list []models.Session, current func(*models.Session) bool) SessionsResponse {
	out := SessionsResponse{Sessions: make([]Session, 0, len(list))}
	for i := range list {
		out.Sessions = append(out.Sessions, sessionView(&list[i], current(&list[i])))
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// orEmpty writes an absent list as [] rather than null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
