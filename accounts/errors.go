package accounts

import (
	"errors"
	"fmt"

	"github.com/authsvc/authsvc/policy"
)

// Domain errors. handlers/errors.go maps each to what a client sees; the
// command line prints them.
var (
	ErrInvalidCredentials   = errors.New("accounts: wrong login or password")
	ErrAccountPending       = errors.New("accounts: account awaits approval")
	ErrAccountDisabled      = errors.New("accounts: account disabled")
	ErrInvalidAdminKey      = errors.New("accounts: invalid admin key")
	ErrUserNotFound         = errors.New("accounts: no such user")
	ErrCallerGone           = errors.New("accounts: the caller's account no longer exists")
	ErrBeyondOwnRights      = errors.New("accounts: beyond the actor's own permissions")
	ErrAdminsOnly           = policy.ErrAdminsOnly
	ErrForbidden            = policy.ErrForbidden
	ErrSessionRequired      = policy.ErrSessionRequired
	ErrTokenNotFound        = errors.New("accounts: no such personal access token of the user")
	ErrTooManyTokens        = errors.New("accounts: the account holds the most personal access tokens allowed")
	ErrPrivateFilter        = errors.New("accounts: filtering on private fields needs users:read")
	ErrLastAdmin            = errors.New("accounts: no active administrator would remain")
	ErrCannotDeleteSelf     = errors.New("accounts: use the self-service deletion for your own account")
	ErrSelfServiceRequired  = errors.New("accounts: one's own credentials and factors change only through self-service")
	ErrSamePassword         = errors.New("accounts: the new password equals the current one")
	ErrInvalidResetToken    = errors.New("accounts: reset token unknown, used, expired or superseded")
	ErrSessionNotFound      = errors.New("accounts: no such session of the user")
	ErrRoleNotFound         = errors.New("accounts: no such role")
	ErrRoleExists           = errors.New("accounts: role exists")
	ErrBuiltinRole          = errors.New("accounts: built-in roles cannot change")
	ErrEmailUnverified      = errors.New("accounts: the email address is not verified yet")
	ErrInvalidEmailToken    = errors.New("accounts: email link unknown, used, expired or superseded")
	ErrInvalidMFAToken      = errors.New("accounts: second login step unknown, used, expired or failed too often")
	ErrInvalidMFACode       = errors.New("accounts: wrong second-factor code")
	ErrInvalidEnrolCode     = errors.New("accounts: the code does not confirm the new authenticator")
	ErrMFAAlreadyEnabled    = errors.New("accounts: TOTP is already on")
	ErrMFANotEnabled        = errors.New("accounts: TOTP is not on")
	ErrMFANotStarted        = errors.New("accounts: no authenticator awaits confirmation")
	ErrUndeliverableAddress = errors.New("accounts: mail cannot be sent to the address")
	ErrPasskeysDisabled     = errors.New("accounts: passkeys are off (no relying party ID)")
	ErrInvalidPasskey       = errors.New("accounts: passkey login failed")
	ErrInvalidRegistration  = errors.New("accounts: passkey registration failed")
	ErrPasskeyNotFound      = errors.New("accounts: no such passkey of the user")
	ErrTooManyPasskeys      = errors.New("accounts: the account holds the most passkeys allowed")
	ErrInvalidRedirectURI   = errors.New("accounts: redirect URI not in REDIRECT_URLS")
	ErrInvalidState         = errors.New("accounts: provider state unknown, used or expired")
	ErrInvalidGrant         = errors.New("accounts: one-time code unknown, used or expired, or the verifier does not match")
	ErrIdentityConflict     = errors.New("accounts: an account has the identity's address, and it may not be linked by email")
	ErrIdentityTaken        = errors.New("accounts: the identity is linked to another account")
	ErrSignupDisabled       = errors.New("accounts: sign-up through this provider is off")
	ErrEmailRequired        = errors.New("accounts: the provider gave no usable email address")
	ErrIdentityNotFound     = errors.New("accounts: no such identity of the user")
	ErrLastLoginMethod      = errors.New("accounts: the account would have no way left to sign in")
	ErrPasswordNotSet       = errors.New("accounts: the account has no password to confirm with")

	// ErrInviteDisabled: an invitation to an account created disabled could
	// never be accepted.
	ErrInviteDisabled = errors.New("accounts: an invited account cannot be created disabled")
)

// WeakPasswordError: a new password fails the policy.
type WeakPasswordError struct {
	Field  string // the request field that carried it
	Reason string // written for the user
}

func (e *WeakPasswordError) Error() string { return e.Field + ": " + e.Reason }

// SignupDeniedError: the signup hook refused the signup, for Reason (the
// hook's words, bounded, valid UTF-8; may be empty).
type SignupDeniedError struct{ Reason string }

func (e *SignupDeniedError) Error() string { return "accounts: signup denied by the signup hook" }

// UnknownRoleError names a role that does not exist.
type UnknownRoleError struct{ Name string }

func (e *UnknownRoleError) Error() string { return fmt.Sprintf("accounts: unknown role %q", e.Name) }

// UnknownPermissionError names a permission the service does not know.
type UnknownPermissionError struct{ Name string }

func (e *UnknownPermissionError) Error() string {
	return fmt.Sprintf("accounts: unknown permission %q", e.Name)
}
