package store

import "time"

// UserUpdate is what UpdateUser writes of a user. A nil pointer leaves its
// column as it is. Nullable columns are a Nullable instead, whose zero value
// also leaves the column as it is: Value(v) writes v, Null[T]() writes NULL.
type UserUpdate struct {
	Email, Username      *string // their comparison keys follow (EmailKey, FoldKey)
	FirstName, LastName  *string
	PasswordHash, Status *string

	// Lockout state (ClearLockout sets all three).
	FailedLogins, LockCount *int
	LockedUntil             Nullable[time.Time]

	EmailVerifiedAt Nullable[time.Time]
	PendingEmail    Nullable[string]

	TOTPSecretSealed  Nullable[[]byte]
	TOTPEnabledAt     Nullable[time.Time]
	TOTPLastStep      *int64
	TOTPEnrolFailures *int
	RecoveryCodesLeft *int
}

// ClearLockout makes the update restart the lockout counters and lift any lock.
func (u *UserUpdate) ClearLockout() {
	u.FailedLogins, u.LockCount, u.LockedUntil = new(0), new(0), Null[time.Time]()
}

// Nullable is a nullable column of a UserUpdate: unchanged (the zero value),
// a value (Value), or NULL (Null).
type Nullable[T any] struct {
	v         T
	set, null bool
}

// Value writes v to a nullable column.
func Value[T any](v T) Nullable[T] { return Nullable[T]{v: v, set: true} }

// Null writes NULL to a nullable column.
func Null[T any]() Nullable[T] { return Nullable[T]{set: true, null: true} }

// columns is the update as GORM takes it: column name to value, only the
// columns to write, with the comparison keys of a new email or username.
func (u UserUpdate) columns() map[string]any {
	m := map[string]any{}
	put(m, "email", u.Email)
	put(m, "username", u.Username)
	put(m, "first_name", u.FirstName)
	put(m, "last_name", u.LastName)
	put(m, "password_hash", u.PasswordHash)
	put(m, "status", u.Status)
	put(m, "failed_logins", u.FailedLogins)
	put(m, "lock_count", u.LockCount)
	u.LockedUntil.put(m, "locked_until")
	u.EmailVerifiedAt.put(m, "email_verified_at")
	u.PendingEmail.put(m, "pending_email")
	u.TOTPSecretSealed.put(m, "totp_secret_sealed")
	u.TOTPEnabledAt.put(m, "totp_enabled_at")
	put(m, "totp_last_step", u.TOTPLastStep)
	put(m, "totp_enrol_failures", u.TOTPEnrolFailures)
	put(m, "recovery_codes_left", u.RecoveryCodesLeft)
	if u.Email != nil {
		m["email_key"] = EmailKey(*u.Email)
	}
	if u.Username != nil {
		m["username_key"] = FoldKey(*u.Username)
	}
	return m
}

func put[T any](m map[string]any, col string, v *T) {
	if v != nil {
		m[col] = *v
	}
}

func (n Nullable[T]) put(m map[string]any, col string) {
	switch {
	case n.null:
		m[col] = nil
	case n.set:
		m[col] = n.v
	}
}
