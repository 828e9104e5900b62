package accounts

import (
	"context"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// Profile is who an account is: what a new account is created with.
type Profile struct {
	Email, Username, FirstName, LastName string
}

func (p Profile) user() *models.User {
	return &models.User{Email: p.Email, Username: p.Username, FirstName: p.FirstName, LastName: p.LastName}
}

// SignupInput is a self-service signup.
type SignupInput struct {
	Profile
	Password string
	AdminKey string // grants admin when it matches the configured key
}

// Signup creates an account for whoever asks: active, or pending when signups
// need approval. A matching admin key makes it an active admin; a wrong one is
// refused and recorded.
func (s *Service) Signup(ctx context.Context, in SignupInput, client audit.Client) (*store.Account, error) {
	if err := s.allow(ctx, ScopeSignupIP, client.IP, s.cfg.SignupLimit); err != nil {
		return nil, err
	}
	roles, status := []string{models.RoleUser}, models.StatusActive
	if s.cfg.SignupRequiresApproval {
		status = models.StatusPending
	}
	if in.AdminKey != "" {
		if !secret.Equal(s.cfg.AdminSignupKey, in.AdminKey) {
			err := s.store.AddAudit(ctx, audit.Event(audit.SignupRejected, s.now(), uuid.Nil, uuid.Nil, client,
				audit.Details{"reason": "invalid_admin_key"}))
			if err != nil {
				return nil, err
			}
			return nil, ErrInvalidAdminKey
		}
		// The key holder is trusted with admin rights, so no approval step either.
		roles, status = append(roles, models.RoleAdmin), models.StatusActive
	}
	return s.create(ctx, newAccount{
		Profile: in.Profile, password: in.Password, roles: roles, status: status,
		event: audit.Signup, self: true, client: client,
	})
}

// CreateInput is an account an administrator (or the operator) creates.
type CreateInput struct {
	Profile
	Password  string
	Roles     []string // nil: the user role
	Resources []string
	Status    string // "": active
	// EmailVerified: the administrator vouches for the address.
	EmailVerified bool
	// Invite: no password; an invitation link is mailed at once instead.
	Invite bool
}

// Create makes an account on behalf of actor, who may grant only roles within
// its own permissions (checkGrant).
func (s *Service) Create(ctx context.Context, actor Actor, in CreateInput) (*store.Account, error) {
	if err := s.authorize(actor, policy.CreateUser); err != nil {
		return nil, err
	}
	roles := []string{models.RoleUser}
	if in.Roles != nil {
		roles = models.SortedSet(in.Roles)
	}
	status := in.Status
	if status == "" {
		status = models.StatusActive
	}
	if in.Invite && status == models.StatusDisabled {
		return nil, ErrInviteDisabled
	}
	return s.create(ctx, newAccount{
		Profile: in.Profile, password: in.Password, roles: roles, status: status, verified: in.EmailVerified,
		resources: models.SortedSet(in.Resources), event: audit.UserCreated, actor: actor, client: actor.Client,
		passwordless: in.Invite, invite: in.Invite,
	})
}

// CreateAdmin makes an active administrator with a verified address (bootstrap
// and `admin create`: the operator vouches for it).
func (s *Service) CreateAdmin(ctx context.Context, p Profile, password string) (*store.Account, error) {
	return s.Create(ctx, Operator(), CreateInput{
		Profile: p, Password: password, Roles: []string{models.RoleAdmin, models.RoleUser}, EmailVerified: true,
	})
}

type newAccount struct {
	Profile
	password  string
	roles     []string
	resources []string
	status    string
	verified  bool // the address is vouched for
	// passwordless: no password (an account made by a provider's sign-in,
	// with identity linked to it).
	passwordless bool
	identity     *models.Identity
	invite       bool   // mail an invitation link (passwordless)
	event        string // audit type
	self         bool   // the new user is its own actor (signup)
	actor        Actor
	client       audit.Client
}

// create is every way an account comes to exist: policy, hash, insert, grants
// and the audit event in one transaction.
func (s *Service) create(ctx context.Context, n newAccount) (*store.Account, error) {
	if n.self && s.signupHook != nil { // before hashing and outside any transaction
		if err := s.askSignupHook(ctx, n); err != nil {
			return nil, err
		}
	}
	now := s.now()
	u := n.user()
	var hash string
	var err error
	if !n.passwordless {
		if hash, err = s.hash(ctx, "password", n.password, u); err != nil {
			return nil, err
		}
	}
	u.ID, u.PasswordHash, u.Status, u.CreatedAt, u.UpdatedAt = uuid.Must(uuid.NewV7()), hash, n.status, now, now
	if n.verified {
		u.EmailVerifiedAt = &now
	}
	actorID, details := n.actor.ID(), audit.Details{"roles": n.roles, "status": n.status}
	if n.self {
		actorID = u.ID
	} else {
		details = n.actor.Details(details)
		details["resources"] = len(n.resources)
	}
	if n.identity != nil {
		details["method"] = "provider:" + n.identity.Provider
	}
	var acct *store.Account
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		if !n.self {
			if err := checkGrant(ctx, tx, n.actor, n.roles); err != nil {
				return err
			}
		}
		if err := tx.CreateUser(ctx, u, n.roles, n.resources); err != nil {
			return err
		}
		if err := tx.AddAudit(ctx, audit.Event(n.event, now, actorID, u.ID, n.client, details)); err != nil {
			return err
		}
		if n.identity != nil {
			n.identity.UserID = u.ID
			if err := tx.AddIdentity(ctx, n.identity); err != nil {
				return err
			}
			if err := tx.AddAudit(ctx, audit.Event(audit.IdentityLinked, now, u.ID, u.ID, n.client,
				audit.Details{"identity_id": n.identity.ID, "provider": n.identity.Provider, "by": "signup"})); err != nil {
				return err
			}
		}
		if n.self && !n.verified && s.cfg.VerifyEmail {
			if err := s.queueVerification(ctx, tx, u, n.client, now); err != nil {
				return err
			}
		}
		if n.invite {
			if err := s.queueInvitation(ctx, tx, u, n.actor); err != nil {
				return err
			}
		}
		acct, err = tx.UserByID(ctx, u.ID)
		return err
	})
	if err == nil && (n.invite || (n.self && !n.verified && s.cfg.VerifyEmail)) {
		s.wakeMail()
	}
	return acct, err
}

// askSignupHook asks the signup hook about n: nil when allowed, a
// *SignupDeniedError when refused, the hook's error when it failed closed.
func (s *Service) askSignupHook(ctx context.Context, n newAccount) error {
	c := SignupCandidate{Email: n.Email, Username: n.Username, FirstName: n.FirstName, LastName: n.LastName}
	if n.identity != nil {
		c.Provider = n.identity.Provider
	}
	allowed, reason, err := s.signupHook.CheckSignup(ctx, c)
	if err != nil {
		return err
	}
	if !allowed {
		err := s.store.AddAudit(ctx, audit.Event(audit.SignupRejected, s.now(), uuid.Nil, uuid.Nil, n.client,
			audit.Details{"reason": "signup_hook"}))
		if err != nil {
			return err
		}
		return &SignupDeniedError{Reason: reason}
	}
	return nil
}
