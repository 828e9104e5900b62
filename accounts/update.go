package accounts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/store"
)

// Changes to an account; nil fields stay as they are.
type Changes struct {
	Email, Username, FirstName, LastName *string
	Password                             *string // set a new password (policy applies)
	Roles                                *[]string
	Resources                            *[]string
	Status                               *string // active approves and unlocks, disabled bans
	// EmailVerified marks the address verified or not; a new Email without it
	// starts unverified.
	EmailVerified *bool
}

// userChange is what an update does: the columns it writes, and which of the
// account's fields it changes, for what the change ends and the audit trail.
type userChange struct {
	write store.UserUpdate

	Email, EmailVerified, Username, FirstName, LastName bool
	Password, Status, Unlocked, Roles, Resources        bool
	Added, Removed                                      []string // the roles, when Roles
}

// Fields names what changed, as the audit trail lists it (names only: the
// values are personal data).
func (c *userChange) Fields() []string {
	out := []string{}
	for _, f := range []struct {
		changed bool
		name    string
	}{
		{c.Email, "email"}, {c.EmailVerified, "email_verified"}, {c.Username, "username"},
		{c.FirstName, "first_name"}, {c.LastName, "last_name"}, {c.Password, "password"},
		{c.Status, "status"}, {c.Unlocked, "unlocked"}, {c.Roles, "roles"}, {c.Resources, "resources"},
	} {
		if f.changed {
			out = append(out, f.name)
		}
	}
	return out
}

// RevokeReason is why the change ends the user's sessions, "" when it does
// not: new roles say the most of what a token may do, then a new password,
// then a new status.
func (c *userChange) RevokeReason() string {
	switch {
	case c.Roles:
		return "role_changed"
	case c.Password:
		return "password_changed"
	case c.Status:
		return "status_changed"
	}
	return ""
}

// setIfChanged makes *col write v when v is given and differs from cur, and
// reports whether it does.
func setIfChanged(col **string, v *string, cur string) bool {
	if v == nil || *v == cur {
		return false
	}
	*col = v
	return true
}

// Update changes an account on behalf of actor (an administrator, or the
// operator). A change of password, roles or status revokes the user's
// sessions; a new password or email ends the reset links already mailed.
func (s *Service) Update(ctx context.Context, actor Actor, id uuid.UUID, ch Changes) (*store.Account, error) {
	if err := s.authorize(actor, policy.UpdateUser); err != nil {
		return nil, err
	}
	if actor.ID() == id && (ch.Email != nil || ch.Password != nil || ch.Status != nil || ch.Roles != nil) {
		// One's own credentials change only with the current password (at
		// /v1/me), and one's own status and roles not at all: a stolen token of
		// a users:write holder must not take the account over.
		return nil, ErrSelfServiceRequired
	}
	var hash string
	if ch.Password != nil {
		// Hash before the transaction: it is slow and needs no lock. The policy sees
		// the user's identity as it will be after the change.
		cur, err := s.store.UserByID(ctx, id)
		if err != nil {
			return nil, notFound(err, ErrUserNotFound)
		}
		if !mayManage(actor, cur) { // checked again under the lock
			return nil, ErrBeyondOwnRights
		}
		after := cur.User
		pick(&after.Email, ch.Email)
		pick(&after.Username, ch.Username)
		pick(&after.FirstName, ch.FirstName)
		pick(&after.LastName, ch.LastName)
		if hash, err = s.hash(ctx, "password", *ch.Password, &after); err != nil {
			return nil, err
		}
	}
	var out *store.Account
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		apply := func() error {
			var err error
			out, err = s.applyUpdate(ctx, tx, actor, id, ch, hash)
			return err
		}
		// Roles and status are how admins stop being active admins.
		if ch.Roles != nil || ch.Status != nil {
			return tx.GuardLastAdmin(ctx, apply)
		}
		return apply()
	})
	return out, lastAdmin(err)
}

func pick(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func (s *Service) applyUpdate(ctx context.Context, tx *store.Store, actor Actor, id uuid.UUID, ch Changes, hash string) (*store.Account, error) {
	target, err := lockManaged(ctx, tx, actor, id)
	if err != nil {
		return nil, err
	}
	c := &userChange{}
	c.Email = setIfChanged(&c.write.Email, ch.Email, target.Email)
	applyEmailVerified(ch, target, c, s.now())
	c.Username = setIfChanged(&c.write.Username, ch.Username, target.Username)
	c.FirstName = setIfChanged(&c.write.FirstName, ch.FirstName, target.FirstName)
	c.LastName = setIfChanged(&c.write.LastName, ch.LastName, target.LastName)
	if hash != "" {
		c.write.PasswordHash, c.Password = &hash, true
	}
	if ch.Status != nil {
		applyStatus(*ch.Status, target, c)
	}
	if ch.Roles != nil {
		if err := applyRoles(ctx, tx, actor, target, *ch.Roles, c); err != nil {
			return nil, err
		}
	}
	if ch.Resources != nil {
		res := models.SortedSet(*ch.Resources)
		if !slices.Equal(res, target.Resources) {
			if err := tx.SetResources(ctx, id, res); err != nil {
				return nil, err
			}
			c.Resources = true
		}
	}
	if len(c.Fields()) == 0 {
		return target, nil
	}
	if err := tx.UpdateUser(ctx, id, s.now(), c.write); err != nil {
		return nil, err
	}
	if err := s.record(ctx, tx, actor, id, c); err != nil {
		return nil, err
	}
	return tx.UserByID(ctx, id)
}

// applyEmailVerified: an administrator's new address applies at once and is
// unverified unless ch says otherwise; an address change the user had asked
// for is dropped.
func applyEmailVerified(ch Changes, target *store.Account, c *userChange, now time.Time) {
	newAddress := ch.Email != nil && store.EmailKey(*ch.Email) != store.EmailKey(target.Email)
	if newAddress {
		c.write.PendingEmail = store.Null[string]()
		if ch.EmailVerified == nil && target.EmailVerifiedAt != nil {
			c.write.EmailVerifiedAt, c.EmailVerified = store.Null[time.Time](), true
		}
	}
	if ch.EmailVerified == nil {
		return
	}
	switch verified := target.EmailVerifiedAt != nil && !newAddress; {
	case *ch.EmailVerified && !verified:
		c.write.EmailVerifiedAt = store.Value(now)
	case !*ch.EmailVerified && target.EmailVerifiedAt != nil:
		c.write.EmailVerifiedAt = store.Null[time.Time]()
	default:
		return
	}
	c.EmailVerified = true
}

// applyStatus: active approves and unlocks (the lockout counters restart),
// disabled bans. A change of stored status revokes the sessions.
func applyStatus(status string, target *store.Account, c *userChange) {
	if status != target.Status {
		c.write.Status, c.Status = &status, true
	}
	if status == models.StatusActive && (target.LockedUntil != nil || target.FailedLogins > 0 || target.LockCount > 0) {
		c.write.ClearLockout()
		c.Unlocked = true
	}
}

// applyRoles replaces the target's roles when they differ, after checking the
// actor may grant the added ones (the removed ones are within the actor's
// rights already: mayManage).
func applyRoles(ctx context.Context, tx *store.Store, actor Actor, target *store.Account, roles []string, c *userChange) error {
	roles = models.SortedSet(roles)
	added, removed := diff(target.Roles, roles)
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	if err := checkGrant(ctx, tx, actor, added); err != nil {
		return err
	}
	if err := tx.SetRoles(ctx, target.ID, roles); err != nil {
		return err
	}
	c.Roles, c.Added, c.Removed = true, added, removed
	return nil
}

// record finishes an update on tx: a new password or email voids the reset
// links already mailed, sessions end when the change calls for it, and
// user_updated (and role_changed) are written.
func (s *Service) record(ctx context.Context, tx *store.Store, actor Actor, id uuid.UUID, c *userChange) error {
	if c.Password || c.Email {
		if err := tx.DeleteResetTokens(ctx, id, uuid.Nil); err != nil {
			return err
		}
	}
	switch {
	case c.Email: // the links and sign-in codes went to the old address
		if err := tx.DeleteEmailTokens(ctx, id, ""); err != nil {
			return err
		}
		if err := tx.DeleteEmailCodes(ctx, id); err != nil {
			return err
		}
	case c.Password: // whoever held the old password may have asked for it
		if err := tx.CancelEmailChange(ctx, id); err != nil {
			return err
		}
	}
	revoked := 0
	if reason := c.RevokeReason(); reason != "" {
		var err error
		if revoked, err = s.revokeUser(ctx, tx, id, reason); err != nil {
			return err
		}
	}
	if c.Status && c.write.Status != nil && *c.write.Status == models.StatusDisabled {
		// A personal access token dies with its user's access, for good:
		// enabling the account again does not bring it back.
		if _, err := tx.DeletePersonalTokens(ctx, id); err != nil {
			return err
		}
	}
	now := s.now()
	// Field names only: the values are personal data.
	if err := tx.AddAudit(ctx, audit.Event(audit.UserUpdated, now, actor.ID(), id, actor.Client,
		actor.Details(audit.Details{"changed": c.Fields(), "sessions_revoked": revoked}))); err != nil {
		return err
	}
	if !c.Roles {
		return nil
	}
	return tx.AddAudit(ctx, audit.Event(audit.RoleChanged, now, actor.ID(), id, actor.Client,
		actor.Details(audit.Details{"added": c.Added, "removed": c.Removed, "sessions_revoked": revoked})))
}

// ProfileChanges are what users may change of their own account.
type ProfileChanges struct {
	Email, Username, FirstName, LastName *string
	// Password is the current password, required to change the email: a stolen
	// access token alone must not redirect the account's reset mails.
	Password string
}

// UpdateProfile changes the actor's own profile. A new email address needs
// the current password and, while verification is on, applies only when the
// link mailed to it is opened (VerifyEmail): until then it is pending.
func (s *Service) UpdateProfile(ctx context.Context, actor Actor, ch ProfileChanges) (*store.Account, error) {
	me := actor.Account
	if me == nil { // a service client has no profile
		return nil, ErrSessionRequired
	}
	if ch.Email != nil && *ch.Email != me.Email {
		if err := policy.RequireSession(actor.Principal); err != nil { // a personal token changes no email
			return nil, err
		}
		if err := s.checkPassword(ctx, &me.User, ch.Password, actor.Client); err != nil {
			return nil, err
		}
	}
	var out *store.Account
	mailed := false
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return err
		}
		now := s.now()
		c := &userChange{}
		if ch.Email != nil && store.EmailKey(*ch.Email) != store.EmailKey(cur.Email) {
			if s.cfg.VerifyEmail {
				if err := s.requestEmailChange(ctx, tx, actor, cur, *ch.Email, now); err != nil {
					return err
				}
				mailed = true
			} else {
				c.Email = setIfChanged(&c.write.Email, ch.Email, cur.Email)
				c.write.EmailVerifiedAt, c.write.PendingEmail = store.Null[time.Time](), store.Null[string]()
			}
		} else {
			c.Email = setIfChanged(&c.write.Email, ch.Email, cur.Email) // the same address, spelt otherwise
		}
		c.Username = setIfChanged(&c.write.Username, ch.Username, cur.Username)
		c.FirstName = setIfChanged(&c.write.FirstName, ch.FirstName, cur.FirstName)
		c.LastName = setIfChanged(&c.write.LastName, ch.LastName, cur.LastName)
		if len(c.Fields()) > 0 {
			if err := tx.UpdateUser(ctx, me.ID, now, c.write); err != nil {
				return err
			}
			if err := s.record(ctx, tx, actor, me.ID, c); err != nil {
				return err
			}
		}
		out, err = tx.UserByID(ctx, me.ID)
		return err
	})
	if mailed && err == nil {
		s.wakeMail()
	}
	return out, selfGone(err)
}

// selfGone: the actor's own account vanished after its token was checked.
func selfGone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrCallerGone
	}
	return err
}

// ChangePassword replaces the actor's password after checking the current one;
// every session ends and the reset links already mailed stop working.
func (s *Service) ChangePassword(ctx context.Context, actor Actor, old, new string) error {
	me, err := own(actor)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, &me.User, old, actor.Client); err != nil {
		return err
	}
	if new == old {
		return ErrSamePassword
	}
	hash, err := s.hash(ctx, "new_password", new, &me.User)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return err
		}
		if err := s.notice(ctx, tx, &cur.User, mail.NoticePasswordChanged, s.now()); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, me.ID, s.now(), store.UserUpdate{PasswordHash: &hash}); err != nil {
			return err
		}
		if err := tx.DeleteResetTokens(ctx, me.ID, uuid.Nil); err != nil {
			return err
		}
		if err := tx.CancelEmailChange(ctx, me.ID); err != nil {
			return err
		}
		n, err := s.revokeUser(ctx, tx, me.ID, "password_changed")
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PasswordChanged, s.now(), me.ID, me.ID, actor.Client,
			audit.Details{"sessions_revoked": n}))
	})
	if err == nil {
		s.wakeMail()
	}
	return selfGone(err)
}

// diff returns what is in next but not in prev, and what is in prev but not in next; never nil.
func diff(prev, next []string) (added, removed []string) {
	added, removed = []string{}, []string{}
	for _, s := range next {
		if !slices.Contains(prev, s) {
			added = append(added, s)
		}
	}
	for _, s := range prev {
		if !slices.Contains(next, s) {
			removed = append(removed, s)
		}
	}
	return added, removed
}
