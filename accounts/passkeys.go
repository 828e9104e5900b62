package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// ChallengeTTL is how long a WebAuthn ceremony may take.
const ChallengeTTL = 5 * time.Minute

// maxPasskeys bounds how many passkeys one account holds.
const maxPasskeys = 20

// PasskeyOptions are what a browser needs to start a ceremony: the public-key
// options in their WebAuthn JSON form, and the id to finish it with.
type PasskeyOptions struct {
	ChallengeID uuid.UUID
	PublicKey   any // protocol.PublicKeyCredentialCreationOptions or ...RequestOptions
}

// passkeyUser is an account as the WebAuthn verifier sees it: its handle is
// the user id, so a discoverable login names the account.
type passkeyUser struct {
	u     *models.User
	creds []webauthn.Credential
}

func (p passkeyUser) WebAuthnID() []byte                         { return p.u.ID[:] }
func (p passkeyUser) WebAuthnName() string                       { return p.u.Email }
func (p passkeyUser) WebAuthnDisplayName() string                { return p.u.Username }
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// passkeysOn: passkeys need a relying party (WEBAUTHN_RP_ID or a domain in PUBLIC_URL).
func (s *Service) passkeysOn() error {
	if s.webauthn == nil {
		return ErrPasskeysDisabled
	}
	return nil
}

// credentialsOf decodes the user's stored passkeys.
func credentialsOf(list []models.Passkey) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, len(list))
	for i, p := range list {
		if err := json.Unmarshal([]byte(p.Credential), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// saveChallenge keeps the verifier's session of a ceremony for whichever
// instance finishes it. Its expiry is ours (the service's clock), not the verifier's.
func (s *Service) saveChallenge(ctx context.Context, kind string, userID *uuid.UUID, session *webauthn.SessionData, publicKey any) (*PasskeyOptions, error) {
	session.Expires = time.Time{}
	data, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &models.WebAuthnChallenge{
		ID: uuid.Must(uuid.NewV7()), UserID: userID, Kind: kind, Session: string(data),
		CreatedAt: now, ExpiresAt: now.Add(ChallengeTTL),
	}
	if err := s.store.CreateWebAuthnChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &PasskeyOptions{ChallengeID: c.ID, PublicKey: publicKey}, nil
}

// takeChallenge uses up the ceremony: single use, whatever comes of it.
func (s *Service) takeChallenge(ctx context.Context, id uuid.UUID, kind string) (*models.WebAuthnChallenge, *webauthn.SessionData, error) {
	c, err := s.store.UseWebAuthnChallenge(ctx, id, kind, s.now())
	if err != nil {
		return nil, nil, notFound(err, ErrInvalidPasskey)
	}
	var session webauthn.SessionData
	if err := json.Unmarshal([]byte(c.Session), &session); err != nil {
		return nil, nil, err
	}
	return c, &session, nil
}

// PasskeyRegistrationOptions starts registering a passkey for the actor,
// after checking the password: a resident key, user verification preferred,
// the actor's passkeys excluded.
func (s *Service) PasskeyRegistrationOptions(ctx context.Context, actor Actor, password string) (*PasskeyOptions, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	me, err := own(actor)
	if err != nil {
		return nil, err
	}
	if err := s.mayAddFactor(&me.User); err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, &me.User, password, actor.Client); err != nil {
		return nil, err
	}
	list, err := s.store.Passkeys(ctx, me.ID)
	if err != nil {
		return nil, err
	}
	if len(list) >= maxPasskeys {
		return nil, ErrTooManyPasskeys
	}
	creds, err := credentialsOf(list)
	if err != nil {
		return nil, err
	}
	user := passkeyUser{u: &me.User, creds: creds}
	exclude := make([]protocol.CredentialDescriptor, len(creds))
	for i, c := range creds {
		exclude[i] = c.Descriptor()
	}
	creation, session, err := s.webauthn.BeginRegistration(user,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, err
	}
	return s.saveChallenge(ctx, models.CeremonyRegister, &me.ID, session, creation.Response)
}

// RegisterPasskey finishes a registration the actor started, with the
// browser's credential (the JSON of PublicKeyCredential.toJSON()). A
// registration that fails verification is ErrInvalidRegistration.
func (s *Service) RegisterPasskey(ctx context.Context, actor Actor, challengeID uuid.UUID, name string, credential []byte) (*models.Passkey, error) {
	p, err := s.registerPasskey(ctx, actor, challengeID, name, credential)
	if errors.Is(err, ErrInvalidPasskey) {
		return nil, ErrInvalidRegistration
	}
	return p, err
}

func (s *Service) registerPasskey(ctx context.Context, actor Actor, challengeID uuid.UUID, name string, credential []byte) (*models.Passkey, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	me, err := own(actor)
	if err != nil {
		return nil, err
	}
	c, session, err := s.takeChallenge(ctx, challengeID, models.CeremonyRegister)
	if err != nil {
		return nil, err
	}
	if c.UserID == nil || *c.UserID != me.ID {
		return nil, ErrInvalidPasskey // another user's ceremony
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, ErrInvalidPasskey
	}
	cred, err := s.webauthn.CreateCredential(passkeyUser{u: &me.User}, *session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "passkey registration refused", "user_id", me.ID, "reason", protocolReason(err))
		return nil, ErrInvalidPasskey
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	now := s.now()
	p := &models.Passkey{
		ID: uuid.Must(uuid.NewV7()), UserID: me.ID, CredentialID: cred.ID, Credential: string(record),
		Name: name, CreatedAt: now,
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return err
		}
		if err := s.mayAddFactor(&cur.User); err != nil {
			return err
		}
		var conflict *store.ConflictError
		if err := tx.AddPasskey(ctx, p); errors.As(err, &conflict) {
			return ErrInvalidPasskey // that authenticator's credential is registered already
		} else if err != nil {
			return err
		}
		if err := s.notice(ctx, tx, &cur.User, mail.NoticePasskeyAdded, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PasskeyAdded, now, me.ID, me.ID, actor.Client,
			audit.Details{"passkey_id": p.ID}))
	})
	if err != nil {
		return nil, selfGone(err)
	}
	s.wakeMail()
	return p, nil
}

// Passkeys lists the actor's passkeys.
func (s *Service) Passkeys(ctx context.Context, actor Actor) ([]models.Passkey, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	me, err := own(actor)
	if err != nil {
		return nil, err
	}
	return s.store.Passkeys(ctx, me.ID)
}

// DeletePasskey removes one of the actor's passkeys, and ends the sessions it
// opened; ErrPasskeyNotFound for anyone else's.
func (s *Service) DeletePasskey(ctx context.Context, actor Actor, id uuid.UUID) error {
	if err := s.passkeysOn(); err != nil {
		return err
	}
	me, err := own(actor)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return selfGone(err)
		}
		if err := tx.DeletePasskey(ctx, cur.ID, id); err != nil {
			return notFound(err, ErrPasskeyNotFound)
		}
		ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{cur.ID}, FactorID: id, Reason: "passkey_removed"})
		if err != nil {
			return err
		}
		now := s.now()
		if err := s.notice(ctx, tx, &cur.User, mail.NoticePasskeyRemoved, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PasskeyRemoved, now, actor.ID(), actor.ID(), actor.Client,
			audit.Details{"passkey_id": id, "sessions_revoked": len(ids)}))
	})
	if err == nil {
		s.wakeMail()
	}
	return err
}

// PasskeyLoginOptions starts a discoverable-credential login: no user named,
// user verification required (a passkey login is a whole login).
func (s *Service) PasskeyLoginOptions(ctx context.Context, client audit.Client) (*PasskeyOptions, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	assertion, session, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, err
	}
	return s.saveChallenge(ctx, models.CeremonyLogin, nil, session, assertion.Response)
}

// PasskeyLogin finishes a passkey login: the account's status applies as for
// a password; a signature counter that went backwards (a cloned
// authenticator) is refused and audited. A passkey cannot be guessed, so the
// lockout neither refuses it nor counts its failures: otherwise anyone who
// knows an identifier could keep its owner out. A passkey login lifts a lock.
func (s *Service) PasskeyLogin(ctx context.Context, challengeID uuid.UUID, credential []byte, remember bool, client audit.Client) (*Session, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	_, session, err := s.takeChallenge(ctx, challengeID, models.CeremonyLogin)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, ErrInvalidPasskey
	}
	now := s.now()
	var out *Session
	failed, cloned := false, false
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		// The user first, then the passkey: the order every change of a user's
		// passkeys takes, so that none of them deadlock.
		owner, err := tx.PasskeyOwner(ctx, parsed.RawID)
		if err != nil {
			return notFound(err, ErrInvalidPasskey)
		}
		cur, err := tx.LockUser(ctx, owner)
		if err != nil {
			return notFound(err, ErrInvalidPasskey)
		}
		pk, err := tx.LockPasskeyByCredentialID(ctx, parsed.RawID)
		if err != nil {
			return notFound(err, ErrInvalidPasskey) // removed meanwhile
		}
		stored, err := credentialsOf([]models.Passkey{*pk})
		if err != nil {
			return err
		}
		user := passkeyUser{u: &cur.User, creds: stored}
		cred, err := s.webauthn.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, cur.ID[:]) {
				return nil, errors.New("the user handle names another account")
			}
			return user, nil
		}, *session, parsed)
		if err != nil {
			s.log.InfoContext(ctx, "passkey login refused", "user_id", cur.ID, "reason", protocolReason(err))
			failed = true
			return tx.AddAudit(ctx, audit.Event(audit.LoginFailed, now, uuid.Nil, cur.ID, client,
				audit.Details{"reason": "invalid_passkey"}))
		}
		if cred.Authenticator.CloneWarning {
			cloned = true
			return tx.AddAudit(ctx, audit.Event(audit.PasskeyCloneSuspected, now, uuid.Nil, cur.ID, client,
				audit.Details{"passkey_id": pk.ID, "stored_counter": stored[0].Authenticator.SignCount,
					"presented_counter": parsed.Response.AuthenticatorData.Counter}))
		}
		if err := s.loginAllowed(&cur.User); err != nil {
			return err
		}
		record, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		if err := tx.UsePasskey(ctx, pk.ID, string(record), now); err != nil {
			return err
		}
		if out, err = s.startSession(ctx, tx, cur.ID, remember,
			method{AMR: []string{models.AMRHardware, models.AMRUser}, FactorID: pk.ID}, client, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.PasskeyLogin, now, cur.ID, cur.ID, client,
			audit.Details{"passkey_id": pk.ID, "session_id": out.Session.ID}))
	})
	switch {
	case err != nil:
		return nil, err
	case failed, cloned:
		return nil, ErrInvalidPasskey
	}
	return out, nil
}

// protocolReason is what the verifier said was wrong, for the log: the
// reason a developer needs, never shown to the client.
func protocolReason(err error) string {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return perr.Type + ": " + perr.Details
	}
	return err.Error()
}
