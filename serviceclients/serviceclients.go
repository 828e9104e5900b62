// Package serviceclients is OAuth 2.0 client credentials for services:
// admins manage clients (each with the permissions it acts with, and a
// secret kept as a MAC), and a client trades its id and secret for an access
// token of its own (RFC 6749 §4.4, RFC 9068). Its tokens live while the
// client is enabled and the secret they were issued with is good: disabling
// or deleting the client, narrowing its permissions, or the end of a rotated
// secret's overlap refuses them at once and lists them in the revocation feed.
package serviceclients

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// Errors of the grant, as RFC 6749 §5.2 names them, and of management.
var (
	ErrInvalidClient = errors.New("serviceclients: unknown client, wrong secret, or a disabled client")
	ErrInvalidScope  = errors.New("serviceclients: the scope asks for a permission the client does not hold")
	ErrNotFound      = errors.New("serviceclients: no such client")
)

// MaxOverlap is the longest a rotated secret keeps working beside the new one.
const MaxOverlap = 24 * time.Hour

// macPurpose keys the MAC under which secrets are stored.
const macPurpose = "client-secret"

// Source reads a client with its secrets (the hot path's cache, or the store).
type Source interface {
	Client(ctx context.Context, id uuid.UUID) (*store.ServiceClient, error)
}

// Service manages clients and issues their tokens.
type Service struct {
	store     *store.Store
	source    Source
	secret    *secret.Key
	issuer    *token.Issuer
	rules     policy.Rules
	accessTTL time.Duration
	now       func() time.Time

	// When each client's use was last recorded here: its last_used_at and
	// the sampled client_token_issued event are written at most once a minute.
	mu      sync.Mutex
	touched map[uuid.UUID]time.Time
}

// Config is what the service is built from.
type Config struct {
	Store     *store.Store
	Source    Source // where the grant reads clients: the hot path's cache (middleware.Live)
	Secret    *secret.Key
	Issuer    *token.Issuer
	Rules     policy.Rules
	AccessTTL time.Duration
	Now       func() time.Time
}

// New builds the service.
func New(c Config) *Service {
	return &Service{store: c.Store, source: c.Source, secret: c.Secret, issuer: c.Issuer, rules: c.Rules,
		accessTTL: c.AccessTTL, now: c.Now, touched: map[uuid.UUID]time.Time{}}
}

// Input defines a client, or changes one (nil fields stay as they are).
type Input struct {
	Name        *string
	Description *string
	Permissions *[]string
	Disabled    *bool
}

// newSecret returns a secret (256 bits) and the row that keeps its MAC.
func (s *Service) newSecret(clientID uuid.UUID, now time.Time) (string, *models.ClientSecret) {
	plain := secret.Token()
	return plain, &models.ClientSecret{
		ID: uuid.Must(uuid.NewV7()), ClientID: clientID, SecretHash: s.secret.MAC(macPurpose, []byte(plain)),
		SID: uuid.Must(uuid.NewV7()), CreatedAt: now,
	}
}

// Create defines a client with permissions the actor holds, and returns it
// with its secret, shown only now.
func (s *Service) Create(ctx context.Context, actor accounts.Actor, in Input) (*store.ServiceClient, string, error) {
	if err := s.rules.Allow(actor.Principal, policy.CreateClient); err != nil {
		return nil, "", err
	}
	var perms []string
	if in.Permissions != nil {
		perms = *in.Permissions
	}
	perms, err := accounts.GrantablePermissions(actor, perms)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	c := &models.Client{ID: uuid.Must(uuid.NewV7()), Permissions: strings.Join(perms, " "), CreatedAt: now, UpdatedAt: now}
	pick(&c.Name, in.Name)
	pick(&c.Description, in.Description)
	plain, sec := s.newSecret(c.ID, now)
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		if err := tx.CreateClient(ctx, c, sec); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.ClientCreated, now, actor.ID(), uuid.Nil, actor.Client,
			details(actor, c, audit.Details{"permissions": perms})))
	})
	if err != nil {
		return nil, "", err
	}
	return &store.ServiceClient{Client: *c, Secrets: []models.ClientSecret{*sec}}, plain, nil
}

// List lists every client.
func (s *Service) List(ctx context.Context, actor accounts.Actor) ([]models.Client, error) {
	if err := s.rules.Allow(actor.Principal, policy.ListClients); err != nil {
		return nil, err
	}
	return s.store.Clients(ctx)
}

// Get reads a client.
func (s *Service) Get(ctx context.Context, actor accounts.Actor, id uuid.UUID) (*models.Client, error) {
	if err := s.rules.Allow(actor.Principal, policy.ReadClient); err != nil {
		return nil, err
	}
	sc, err := s.store.ClientByID(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	return &sc.Client, nil
}

// Update changes a client. Disabling it, or taking a permission away, ends
// the tokens issued so far (they carry what was granted).
func (s *Service) Update(ctx context.Context, actor accounts.Actor, id uuid.UUID, in Input) (*models.Client, error) {
	if err := s.rules.Allow(actor.Principal, policy.UpdateClient); err != nil {
		return nil, err
	}
	var perms []string
	if in.Permissions != nil {
		var err error
		if perms, err = accounts.GrantablePermissions(actor, *in.Permissions); err != nil {
			return nil, err
		}
	}
	var out *models.Client
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		sc, err := s.manage(ctx, tx, actor, id)
		if err != nil {
			return err
		}
		c, now := sc.Client, s.now()
		before := sc.PermissionList()
		pick(&c.Name, in.Name)
		pick(&c.Description, in.Description)
		if in.Permissions != nil {
			c.Permissions = strings.Join(perms, " ")
		}
		if in.Disabled != nil {
			c.Disabled = *in.Disabled
		}
		c.UpdatedAt = now
		if err := tx.UpdateClient(ctx, &c); err != nil {
			return err
		}
		narrowed := slices.ContainsFunc(before, func(p string) bool { return !slices.Contains(strings.Fields(c.Permissions), p) })
		if (c.Disabled && !sc.Disabled) || narrowed {
			if err := tx.EndClientTokens(ctx, sc, now, s.accessTTL); err != nil {
				return err
			}
		}
		tx.AwaitPropagation() // a disabled client is refused by every instance once this returns
		out = &c
		return tx.AddAudit(ctx, audit.Event(audit.ClientUpdated, now, actor.ID(), uuid.Nil, actor.Client,
			details(actor, &c, audit.Details{"permissions": strings.Fields(c.Permissions), "disabled": c.Disabled})))
	})
	return out, err
}

// RotateSecret gives the client a new secret, shown only now. The old one
// keeps working for overlap (0: it ends at once, with the tokens issued with it).
func (s *Service) RotateSecret(ctx context.Context, actor accounts.Actor, id uuid.UUID, overlap time.Duration) (string, error) {
	if err := s.rules.Allow(actor.Principal, policy.RotateClientSecret); err != nil {
		return "", err
	}
	var plain string
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		sc, err := s.manage(ctx, tx, actor, id)
		if err != nil {
			return err
		}
		now := s.now()
		var next *models.ClientSecret
		plain, next = s.newSecret(id, now)
		if err := tx.RotateClientSecret(ctx, sc, next, now.Add(overlap), now, s.accessTTL); err != nil {
			return err
		}
		tx.AwaitPropagation()
		return tx.AddAudit(ctx, audit.Event(audit.ClientSecretRotated, now, actor.ID(), uuid.Nil, actor.Client,
			details(actor, &sc.Client, audit.Details{"overlap": overlap.String()})))
	})
	return plain, err
}

// Delete deletes a client; its tokens are refused from then on.
func (s *Service) Delete(ctx context.Context, actor accounts.Actor, id uuid.UUID) error {
	if err := s.rules.Allow(actor.Principal, policy.DeleteClient); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx *store.Store) error {
		sc, err := s.manage(ctx, tx, actor, id)
		if err != nil {
			return err
		}
		now := s.now()
		if err := tx.DeleteClient(ctx, sc, now, s.accessTTL); err != nil {
			return notFound(err)
		}
		tx.AwaitPropagation()
		return tx.AddAudit(ctx, audit.Event(audit.ClientDeleted, now, actor.ID(), uuid.Nil, actor.Client,
			details(actor, &sc.Client, nil)))
	})
}

// manage locks a client the actor may change: one whose permissions the
// actor holds (else its secret would be a way to rights one lacks).
func (s *Service) manage(ctx context.Context, tx *store.Store, actor accounts.Actor, id uuid.UUID) (*store.ServiceClient, error) {
	sc, err := tx.LockClient(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	if !actor.HoldsAll(sc.PermissionList()) {
		return nil, accounts.ErrBeyondOwnRights
	}
	return sc, nil
}

// Grant is an access token issued to a client.
type Grant struct {
	AccessToken string
	ExpiresIn   time.Duration
	Scope       []string
}

// IssueToken is the client credentials grant: the client's id and secret for
// an access token carrying scope (space-separated permissions of the
// client's; nil: all of them). A wrong secret and an unknown or disabled
// client are all ErrInvalidClient. Secrets are compared as MACs in constant time.
func (s *Service) IssueToken(ctx context.Context, clientID, clientSecret string, scope *string, from audit.Client) (*Grant, error) {
	mac := s.secret.MAC(macPurpose, []byte(clientSecret))
	id, err := uuid.Parse(clientID)
	if err != nil {
		return nil, ErrInvalidClient
	}
	sc, err := s.source.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidClient
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	sec := matching(sc, mac, now)
	if sec == nil || sc.Disabled {
		return nil, ErrInvalidClient
	}
	held := sc.PermissionList()
	granted := held
	if scope != nil {
		granted = models.SortedSet(strings.Fields(*scope))
		for _, p := range granted {
			if !slices.Contains(held, p) {
				return nil, ErrInvalidScope
			}
		}
	}
	tok, exp, err := s.issuer.Issue(token.Subject{
		UserID: sc.ID, SessionID: sec.SID, Roles: []string{}, Permissions: granted, Resources: []string{},
		AMR: []string{}, Client: true, Scope: strings.Join(granted, " "),
	})
	if err != nil {
		return nil, err
	}
	if err := s.recordUse(ctx, sc, granted, now, from); err != nil {
		return nil, err
	}
	return &Grant{AccessToken: tok, ExpiresIn: exp.Sub(now), Scope: granted}, nil
}

// matching is the client's secret whose MAC is mac and that is good at now.
// Every secret is compared, so the time taken does not tell which matched.
func matching(sc *store.ServiceClient, mac []byte, now time.Time) *models.ClientSecret {
	var found *models.ClientSecret
	for i := range sc.Secrets {
		sec := &sc.Secrets[i]
		if subtle.ConstantTimeCompare(sec.SecretHash, mac) == 1 && sec.LiveAt(now) {
			found = sec
		}
	}
	return found
}

// recordUse writes the client's last_used_at and a client_token_issued event,
// at most once a minute for each client: across instances, the store lets
// one of them write each minute's.
func (s *Service) recordUse(ctx context.Context, sc *store.ServiceClient, granted []string, now time.Time, from audit.Client) error {
	s.mu.Lock()
	last, seen := s.touched[sc.ID]
	due := !seen || now.Sub(last) >= time.Minute
	if due {
		s.touched[sc.ID] = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	return s.store.InTx(ctx, func(tx *store.Store) error {
		recorded, err := tx.TouchClient(ctx, sc.ID, now)
		if err != nil || !recorded {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.ClientTokenIssued, now, sc.ID, uuid.Nil, from,
			audit.Details{"client_id": sc.ID, "client": sc.Name, "scope": granted}))
	})
}

// details names the client in an audit event.
func details(actor accounts.Actor, c *models.Client, d audit.Details) audit.Details {
	if d == nil {
		d = audit.Details{}
	}
	d["client_id"], d["client"] = c.ID, c.Name
	return actor.Details(d)
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

func pick[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
