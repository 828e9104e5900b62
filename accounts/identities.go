package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/federation"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// resolveIdentity finds the account a provider's sign-in is, by the
// contract's rules: the identity's account; else, when an account has the
// same address, that account if the provider links by email and both sides
// say the address is verified (else ErrIdentityConflict: nothing changes);
// else, with signup on, a new account. A concurrent first sign-in of the
// same person, or of the same address, is looked up again.
func (s *Service) resolveIdentity(ctx context.Context, p config.Provider, id *federation.Identity, client audit.Client) (*models.User, uuid.UUID, error) {
	for range 3 {
		u, identityID, err := s.resolveOnce(ctx, p, id, client)
		if !errors.Is(err, store.ErrConflict) {
			return u, identityID, err
		}
	}
	return nil, uuid.Nil, ErrIdentityConflict // still racing: as if the other had come first
}

func (s *Service) resolveOnce(ctx context.Context, p config.Provider, id *federation.Identity, client audit.Client) (*models.User, uuid.UUID, error) {
	now := s.now()
	email, emailErr := mailaddr.Normalize(id.Email)
	if ident, err := s.store.IdentityBySubject(ctx, p.Name, id.Subject); err == nil {
		if emailErr != nil {
			email = ""
		}
		if err := s.store.UseIdentity(ctx, ident.ID, email, now); err != nil {
			return nil, uuid.Nil, err
		}
		u, err := s.store.UserByID(ctx, ident.UserID)
		if err != nil {
			return nil, uuid.Nil, notFound(err, ErrCallerGone)
		}
		return &u.User, ident.ID, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, uuid.Nil, err
	}
	if id.Email == "" || emailErr != nil {
		return nil, uuid.Nil, ErrEmailRequired
	}
	existing, err := s.store.UserRowByLogin(ctx, email)
	switch {
	case err == nil:
		if !p.LinkByEmail || !id.EmailVerified || existing.EmailVerifiedAt == nil {
			return nil, uuid.Nil, ErrIdentityConflict
		}
		ident, err := s.linkByEmail(ctx, existing.ID, p.Name, id, email, client)
		return existing, ident, err
	case !errors.Is(err, store.ErrNotFound):
		return nil, uuid.Nil, err
	case !p.Signup:
		return nil, uuid.Nil, ErrSignupDisabled
	}
	if err := s.allow(ctx, ScopeSignupIP, client.IP, s.cfg.SignupLimit); err != nil {
		return nil, uuid.Nil, err
	}
	return s.signupWithIdentity(ctx, p.Name, id, email, client)
}

// newIdentity is a provider's identity about to be linked to userID.
func (s *Service) newIdentity(userID uuid.UUID, provider string, id *federation.Identity, email string) *models.Identity {
	now := s.now()
	return &models.Identity{
		ID: uuid.Must(uuid.NewV7()), UserID: userID, Provider: provider, Subject: id.Subject, Email: email,
		CreatedAt: now, LastUsedAt: &now,
	}
}

// linkByEmail links the identity to the account with its verified address,
// checked again under the account's lock.
func (s *Service) linkByEmail(ctx context.Context, userID uuid.UUID, provider string, id *federation.Identity, email string, client audit.Client) (uuid.UUID, error) {
	ident := s.newIdentity(userID, provider, id, email)
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, userID)
		if err != nil {
			return notFound(err, ErrIdentityConflict)
		}
		if cur.EmailVerifiedAt == nil || store.EmailKey(cur.Email) != store.EmailKey(email) {
			return ErrIdentityConflict // changed meanwhile
		}
		return s.addIdentity(ctx, tx, &cur.User, ident, "email", client)
	})
	if err != nil {
		return uuid.Nil, err
	}
	s.wakeMail()
	return ident.ID, nil
}

// addIdentity links ident on tx, tells the account's address and records it.
func (s *Service) addIdentity(ctx context.Context, tx *store.Store, u *models.User, ident *models.Identity, by string, client audit.Client) error {
	if err := tx.AddIdentity(ctx, ident); err != nil {
		return err
	}
	now := s.now()
	if err := s.notice(ctx, tx, u, mail.NoticeIdentityLinked, now); err != nil {
		return err
	}
	return tx.AddAudit(ctx, audit.Event(audit.IdentityLinked, now, u.ID, u.ID, client,
		audit.Details{"identity_id": ident.ID, "provider": ident.Provider, "by": by}))
}

// signupWithIdentity creates the account of a first sign-in: the provider's
// address (verified when the provider says so), a free username, names, the
// user role, no password.
func (s *Service) signupWithIdentity(ctx context.Context, provider string, id *federation.Identity, email string, client audit.Client) (*models.User, uuid.UUID, error) {
	username, err := s.freeUsername(ctx, id, email)
	if err != nil {
		return nil, uuid.Nil, err
	}
	first, last := id.GivenName, id.FamilyName
	if first == "" && last == "" {
		first, last, _ = strings.Cut(strings.TrimSpace(id.Name), " ")
	}
	first, last = clip(strings.TrimSpace(first), maxName), clip(strings.TrimSpace(last), maxName)
	status := models.StatusActive
	if s.cfg.SignupRequiresApproval {
		status = models.StatusPending
	}
	ident := s.newIdentity(uuid.Nil, provider, id, email)
	acct, err := s.create(ctx, newAccount{
		Profile: Profile{Email: email, Username: username, FirstName: first, LastName: last},
		roles:   []string{models.RoleUser}, status: status, verified: id.EmailVerified, passwordless: true,
		identity: ident, event: audit.Signup, self: true, client: client,
	})
	if err != nil {
		return nil, uuid.Nil, err
	}
	return &acct.User, ident.ID, nil
}

// maxName is the longest first or last name (as the API accepts).
const maxName = 100

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	for utf8.RuneCountInString(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// freeUsername makes a valid username no account has from what the provider
// says: preferred_username or GitHub's login, else the address's local part;
// "ada", then "ada-2" … "ada-9", then "ada-" and random digits.
func (s *Service) freeUsername(ctx context.Context, id *federation.Identity, email string) (string, error) {
	local, _, _ := strings.Cut(email, "@")
	base := usernameBase(id.Username)
	if base == "" {
		base = usernameBase(local)
	}
	if base == "" {
		base = "user"
	}
	for i := 1; i <= 9; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		taken, err := s.store.UsernameTaken(ctx, name)
		if err != nil || !taken {
			return name, err
		}
	}
	return base + "-" + strings.ToLower(secret.Token()[:6]), nil
}

// usernameBase is s as a username (letters, digits, ".", "_" and "-"; 3 to
// 24 characters, room left for a suffix), or "" when nothing of it is usable.
func usernameBase(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '+':
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), ".-_")
	if len(out) > 24 {
		out = strings.Trim(out[:24], ".-_")
	}
	if out != "" && len(out) < 3 {
		out = "user-" + out
	}
	return out
}

// LinkIdentityStart starts linking an identity at provider name to the
// actor's account, after checking its password (when the account has one):
// the URL the app opens. The callback then links instead of signing in.
func (s *Service) LinkIdentityStart(ctx context.Context, actor Actor, name string, app AppRedirect, password string) (string, error) {
	p, err := s.provider(name)
	if err != nil {
		return "", err
	}
	if err := s.checkRedirect(app); err != nil {
		return "", err
	}
	me, err := own(actor)
	if err != nil {
		return "", err
	}
	if err := s.mayAddFactor(&me.User); err != nil {
		return "", err
	}
	if me.PasswordHash != "" {
		if err := s.checkPassword(ctx, &me.User, password, actor.Client); err != nil {
			return "", err
		}
	}
	return s.startFlow(ctx, p, app, &me.ID)
}

// linkIdentity links the identity a link flow's callback brought to the
// account that started it: ErrIdentityTaken when it is another account's.
func (s *Service) linkIdentity(ctx context.Context, userID uuid.UUID, provider string, id *federation.Identity, client audit.Client) error {
	email, _ := mailaddr.Normalize(id.Email)
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, userID)
		if err != nil {
			return notFound(err, ErrCallerGone)
		}
		if err := s.mayAddFactor(&cur.User); err != nil {
			return err
		}
		switch had, err := tx.IdentityBySubject(ctx, provider, id.Subject); {
		case err == nil && had.UserID == userID:
			return nil // linked already
		case err == nil:
			return ErrIdentityTaken
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		err = s.addIdentity(ctx, tx, &cur.User, s.newIdentity(userID, provider, id, email), "link", client)
		if errors.Is(err, store.ErrConflict) {
			return ErrIdentityTaken // linked concurrently
		}
		return err
	})
	if err == nil {
		s.wakeMail()
	}
	return err
}

// Identities lists the actor's linked identities.
func (s *Service) Identities(ctx context.Context, actor Actor) ([]models.Identity, error) {
	me, err := own(actor)
	if err != nil {
		return nil, err
	}
	return s.store.Identities(ctx, me.ID)
}

// UnlinkIdentity removes one of the actor's identities and ends the sessions
// it opened; ErrIdentityNotFound for anyone else's, ErrLastLoginMethod when
// the account would have no way left to sign in.
func (s *Service) UnlinkIdentity(ctx context.Context, actor Actor, id uuid.UUID) error {
	me, err := own(actor)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return selfGone(err)
		}
		list, err := tx.Identities(ctx, cur.ID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list, func(x models.Identity) bool { return x.ID == id })
		if i < 0 {
			return ErrIdentityNotFound
		}
		if cur.PasswordHash == "" && cur.PasskeyCount == 0 && len(list) == 1 {
			return ErrLastLoginMethod
		}
		if err := tx.DeleteIdentity(ctx, cur.ID, id); err != nil {
			return notFound(err, ErrIdentityNotFound)
		}
		ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{cur.ID}, FactorID: id, Reason: "identity_unlinked"})
		if err != nil {
			return err
		}
		now := s.now()
		if err := s.notice(ctx, tx, &cur.User, mail.NoticeIdentityUnlinked, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.IdentityUnlinked, now, cur.ID, cur.ID, actor.Client,
			audit.Details{"identity_id": id, "provider": list[i].Provider, "sessions_revoked": len(ids)}))
	})
	if err == nil {
		s.wakeMail()
	}
	return err
}
