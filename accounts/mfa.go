package accounts

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"image/png"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/secret"
	"github.com/authsvc/authsvc/store"
)

// TOTP as the contract fixes it (RFC 6238): SHA-1, 6 digits, 30 s steps, one
// step of skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
)

// The second login step: how long its token lives, how many wrong codes kill it.
const (
	MFATokenTTL     = 5 * time.Minute
	maxMFAFailures  = 5
	recoveryCodes   = 10
	maxSecondFactor = 256 // longest token or code worth looking up
)

// MACs keep these apart from every other MAC of SECRET_KEY.
const (
	mfaTokenPurpose     = "mfa-token"
	recoveryCodePurpose = "recovery-code"
	totpSealPurpose     = "totp-secret"
)

// Second-factor methods a second login step accepts.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// SecondFactor is a TOTP code or a recovery code; exactly one is set.
type SecondFactor struct {
	Code, RecoveryCode string
}

// TOTPEnrolment is a new authenticator's secret, for the user to scan or type in.
type TOTPEnrolment struct {
	Secret    string // base32
	URL       string // otpauth://totp/…
	QRCodePNG []byte
}

// startSecondStep records, on tx, the second step a first factor (first: a
// correct password, a provider's sign-in) earned.
func (s *Service) startSecondStep(ctx context.Context, tx *store.Store, userID uuid.UUID, remember bool, first method, now time.Time) (*SecondStep, error) {
	plain := secret.Token()
	c := &models.MFAChallenge{
		ID: uuid.Must(uuid.NewV7()), UserID: userID, Remember: remember,
		TokenHash: s.secret.MAC(mfaTokenPurpose, []byte(plain)),
		AMR:       strings.Join(first.AMR, " "), IDP: first.IDP,
		CreatedAt: now, ExpiresAt: now.Add(MFATokenTTL),
	}
	if first.FactorID != uuid.Nil {
		c.FactorID = &first.FactorID
	}
	err := tx.CreateMFAChallenge(ctx, c)
	if err != nil {
		return nil, err
	}
	return &SecondStep{Token: plain, Methods: []string{MethodTOTP, MethodRecoveryCode}}, nil
}

// CompleteMFA is the second step of a login for a user with TOTP on: the token
// the password step returned, and a TOTP code or a recovery code. A wrong code
// counts as a failed login (lockout) and against the token, which dies after
// maxMFAFailures of them.
func (s *Service) CompleteMFA(ctx context.Context, token string, f SecondFactor, client audit.Client) (*Session, error) {
	if err := s.allow(ctx, ScopeLoginIP, client.IP, s.cfg.LoginLimit); err != nil {
		return nil, err
	}
	if token == "" || len(token) > maxSecondFactor {
		return nil, ErrInvalidMFAToken
	}
	hash := s.secret.MAC(mfaTokenPurpose, []byte(token))
	now := s.now()
	var out *Session
	wrong := false
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		// The user first, then the step: the order every change of a user's
		// steps takes (revokeUser), so that none of them deadlock. The user's
		// row lock also makes the lock check, the code's check and the count
		// of a failure one step: concurrent wrong codes queue on it.
		userID, err := tx.MFAChallengeUser(ctx, hash)
		if err != nil {
			return notFound(err, ErrInvalidMFAToken)
		}
		cur, err := tx.LockUser(ctx, userID)
		if err != nil {
			return notFound(err, ErrInvalidMFAToken)
		}
		ch, err := tx.LockMFAChallenge(ctx, hash)
		if err != nil {
			return notFound(err, ErrInvalidMFAToken) // ended meanwhile
		}
		if ch.UsedAt != nil || !now.Before(ch.ExpiresAt) || ch.Failures >= maxMFAFailures {
			return ErrInvalidMFAToken
		}
		if !cur.TOTPEnabled() { // turned off since the password step
			return ErrInvalidMFAToken
		}
		if err := lockedError(lockoutOf(&cur.User), now); err != nil {
			return err
		}
		if err := s.loginAllowed(&cur.User); err != nil {
			return err
		}
		second, err := s.checkSecondFactor(ctx, tx, &cur.User, f, client, now)
		if errors.Is(err, ErrInvalidMFACode) {
			// Committed with the transaction: the failure counts whatever comes next.
			wrong = true
			if err := s.failCode(ctx, tx, &cur.User, client, audit.MFAFailed, ErrInvalidMFACode); err != nil {
				return err
			}
			return tx.SetMFAChallenge(ctx, ch.ID, ch.Failures+1, nil)
		}
		if err != nil {
			return err
		}
		if err := tx.SetMFAChallenge(ctx, ch.ID, ch.Failures, &now); err != nil {
			return err
		}
		how := method{AMR: append(strings.Fields(ch.AMR), second...), IDP: ch.IDP}
		if ch.FactorID != nil {
			how.FactorID = *ch.FactorID
		}
		out, err = s.startSession(ctx, tx, cur.ID, ch.Remember, how, client, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if wrong {
		return nil, ErrInvalidMFACode
	}
	return out, nil
}

// checkSecondFactor checks f against the user's factors on tx and uses it up: a
// TOTP code's time step, or the recovery code. It returns what the second
// factor adds to the first's amr, or ErrInvalidMFACode.
func (s *Service) checkSecondFactor(ctx context.Context, tx *store.Store, u *models.User, f SecondFactor, client audit.Client, now time.Time) ([]string, error) {
	if f.RecoveryCode != "" {
		ok, err := tx.UseRecoveryCode(ctx, u.ID, s.recoveryCodeMAC(u.ID, f.RecoveryCode), now)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrInvalidMFACode
		}
		err = tx.AddAudit(ctx, audit.Event(audit.RecoveryCodeUsed, now, u.ID, u.ID, client,
			audit.Details{"recovery_codes_left": u.RecoveryCodesLeft - 1}))
		return []string{models.AMRMFA}, err
	}
	if err := s.useTOTPCode(ctx, tx, u, f.Code, now); err != nil {
		return nil, err
	}
	return []string{models.AMROTP, models.AMRMFA}, nil
}

// useTOTPCode accepts code if it is the user's TOTP code of a time step within
// the skew that no code was accepted for yet, and records that step.
func (s *Service) useTOTPCode(ctx context.Context, tx *store.Store, u *models.User, code string, now time.Time) error {
	key, err := s.totpSecret(u)
	if err != nil {
		return err
	}
	step, ok := matchTOTP(key, code, now)
	if !ok {
		return ErrInvalidMFACode
	}
	fresh, err := tx.AdvanceTOTPStep(ctx, u.ID, step)
	if err != nil {
		return err
	}
	if !fresh { // this code, or a later one, was accepted before: a replay
		return ErrInvalidMFACode
	}
	return nil
}

// matchTOTP returns the time step whose code code is, within the skew.
func matchTOTP(key, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(key, time.Unix(step*totpPeriod, 0), opts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

func (s *Service) totpSecret(u *models.User) (string, error) {
	if u.TOTPSecretSealed == nil {
		return "", ErrMFANotStarted
	}
	plain, err := s.secret.Open(u.TOTPSecretSealed, s.totpSealContext(u.ID))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// totpSealContext binds a sealed secret to its user and purpose: copied to
// another row, it does not open.
func (s *Service) totpSealContext(id uuid.UUID) []byte {
	return append([]byte(totpSealPurpose), id[:]...)
}

// recoveryCodeMAC is how a recovery code is stored: keyed, per user, with the
// spelling a person may vary (case, dashes, spaces) taken out.
func (s *Service) recoveryCodeMAC(userID uuid.UUID, code string) []byte {
	norm := strings.NewReplacer("-", "", " ", "").Replace(strings.ToLower(code))
	return s.secret.MAC(recoveryCodePurpose, append(userID[:], norm...))
}

// newRecoveryCodes makes a fresh set, stores their MACs on tx in place of the
// old set, and returns the codes: shown once, never stored.
func (s *Service) newRecoveryCodes(ctx context.Context, tx *store.Store, userID uuid.UUID) ([]string, error) {
	codes := make([]string, recoveryCodes)
	macs := make([][]byte, recoveryCodes)
	for i := range codes {
		c := secret.Code(10) // 50 bits, written xxxxx-xxxxx
		codes[i] = c[:5] + "-" + c[5:]
		macs[i] = s.recoveryCodeMAC(userID, codes[i])
	}
	return codes, tx.ReplaceRecoveryCodes(ctx, userID, macs)
}

// StartTOTP begins enrolling an authenticator for the actor, after checking
// the password: a new secret, off until ConfirmTOTP. A new call replaces a
// secret not yet confirmed.
func (s *Service) StartTOTP(ctx context.Context, actor Actor, password string) (*TOTPEnrolment, error) {
	me, err := own(actor)
	if err != nil {
		return nil, err
	}
	if me.TOTPEnabled() {
		return nil, ErrMFAAlreadyEnabled
	}
	if err := s.mayAddFactor(&me.User); err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, &me.User, password, actor.Client); err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.cfg.TOTPIssuer, AccountName: me.Email,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, err
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, err
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return err
		}
		if cur.TOTPEnabled() {
			return ErrMFAAlreadyEnabled
		}
		return tx.UpdateUser(ctx, me.ID, s.now(), store.UserUpdate{
			TOTPSecretSealed:  store.Value(s.secret.Seal([]byte(key.Secret()), s.totpSealContext(me.ID))),
			TOTPLastStep:      new(int64(0)),
			TOTPEnrolFailures: new(0),
		})
	})
	if err != nil {
		return nil, selfGone(err)
	}
	return &TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRCodePNG: qr.Bytes()}, nil
}

// maxEnrolFailures wrong codes end an enrolment: its secret cannot be guessed
// at behind a stolen token, however the lockout stands.
const maxEnrolFailures = 5

// ConfirmTOTP turns TOTP on with a code from the new authenticator, and
// returns the first recovery codes. The actor's other sessions end: they
// were opened without the second factor. A wrong code counts toward the
// lockout; the maxEnrolFailures-th ends the enrolment (ErrMFANotStarted).
func (s *Service) ConfirmTOTP(ctx context.Context, actor Actor, sessionID uuid.UUID, code string) ([]string, error) {
	me, err := own(actor)
	if err != nil {
		return nil, err
	}
	var codes []string
	var wrong error
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return err
		}
		if cur.TOTPEnabled() {
			return ErrMFAAlreadyEnabled
		}
		if cur.TOTPSecretSealed == nil {
			return ErrMFANotStarted
		}
		if err := s.mayAddFactor(&cur.User); err != nil {
			return err
		}
		now := s.now()
		if err := lockedError(lockoutOf(&cur.User), now); err != nil {
			return err
		}
		if err := s.useTOTPCode(ctx, tx, &cur.User, code, now); err != nil {
			if !errors.Is(err, ErrInvalidMFACode) {
				return err
			}
			// Committed: the failure counts, and the last one ends the enrolment.
			wrong = ErrInvalidEnrolCode
			failures := store.UserUpdate{TOTPEnrolFailures: new(cur.TOTPEnrolFailures + 1)}
			if cur.TOTPEnrolFailures+1 >= maxEnrolFailures {
				wrong = ErrMFANotStarted
				failures = store.UserUpdate{TOTPSecretSealed: store.Null[[]byte](), TOTPEnrolFailures: new(0)}
			}
			if err := tx.UpdateUser(ctx, me.ID, now, failures); err != nil {
				return err
			}
			return s.failCode(ctx, tx, &cur.User, actor.Client, audit.MFAFailed, ErrInvalidMFACode)
		}
		if err := tx.UpdateUser(ctx, me.ID, now, store.UserUpdate{TOTPEnabledAt: store.Value(now), TOTPEnrolFailures: new(0)}); err != nil {
			return err
		}
		if codes, err = s.newRecoveryCodes(ctx, tx, me.ID); err != nil {
			return err
		}
		ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{me.ID}, Except: sessionID, Reason: "mfa_enabled"})
		if err != nil {
			return err
		}
		if err := s.notice(ctx, tx, &cur.User, mail.NoticeTOTPEnabled, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.MFAEnabled, now, me.ID, me.ID, actor.Client,
			audit.Details{"method": MethodTOTP, "sessions_revoked": len(ids)}))
	})
	if err == nil && wrong != nil {
		return nil, wrong
	}
	if err == nil {
		s.wakeMail()
	}
	return codes, selfGone(err)
}

// DisableTOTP turns the actor's TOTP off and voids its recovery codes, after
// checking the password and a code (TOTP or recovery). The sessions that a
// code authenticated end, the current one included: they leaned on the
// factor that is gone.
func (s *Service) DisableTOTP(ctx context.Context, actor Actor, password string, f SecondFactor) error {
	return s.withSecondFactor(ctx, actor, password, f, func(tx *store.Store, cur *models.User, now time.Time) error {
		if err := tx.ClearMFA(ctx, cur.ID, now); err != nil {
			return err
		}
		ids, err := s.sessions.Revoke(ctx, tx, store.Revoke{UserIDs: []uuid.UUID{cur.ID}, AMR: models.AMRMFA, Reason: "mfa_disabled"})
		if err != nil {
			return err
		}
		if err := s.notice(ctx, tx, cur, mail.NoticeTOTPDisabled, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.MFADisabled, now, actor.ID(), actor.ID(), actor.Client,
			audit.Details{"method": MethodTOTP, "sessions_revoked": len(ids)}))
	})
}

// RegenerateRecoveryCodes replaces the actor's recovery codes, after checking
// the password and a TOTP code; the old set stops working.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, actor Actor, password, code string) ([]string, error) {
	var codes []string
	err := s.withSecondFactor(ctx, actor, password, SecondFactor{Code: code}, func(tx *store.Store, cur *models.User, now time.Time) error {
		var err error
		if codes, err = s.newRecoveryCodes(ctx, tx, cur.ID); err != nil {
			return err
		}
		if err := s.notice(ctx, tx, cur, mail.NoticeRecoveryCodes, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.RecoveryCodesRegenerated, now, actor.ID(), actor.ID(), actor.Client, nil))
	})
	return codes, err
}

// withSecondFactor runs change on a transaction once the password and the
// second factor f of the actor (who has TOTP on) are checked; f is used up.
// Both count toward the lockout when wrong, like a login's.
func (s *Service) withSecondFactor(ctx context.Context, actor Actor, password string, f SecondFactor,
	change func(tx *store.Store, cur *models.User, now time.Time) error) error {
	me, err := own(actor)
	if err != nil {
		return err
	}
	if !me.TOTPEnabled() {
		return ErrMFANotEnabled
	}
	if err := s.checkPassword(ctx, &me.User, password, actor.Client); err != nil {
		return err
	}
	wrong := false
	err = s.store.InTx(ctx, func(tx *store.Store) error {
		cur, err := tx.LockUser(ctx, me.ID)
		if err != nil {
			return err
		}
		if !cur.TOTPEnabled() {
			return ErrMFANotEnabled
		}
		now := s.now()
		if err := lockedError(lockoutOf(&cur.User), now); err != nil {
			return err
		}
		if _, err := s.checkSecondFactor(ctx, tx, &cur.User, f, actor.Client, now); err != nil {
			if errors.Is(err, ErrInvalidMFACode) {
				wrong = true
				return s.failCode(ctx, tx, &cur.User, actor.Client, audit.MFAFailed, ErrInvalidMFACode)
			}
			return err
		}
		return change(tx, &cur.User, now)
	})
	if err == nil && wrong {
		return ErrInvalidMFACode
	}
	if err == nil {
		s.wakeMail()
	}
	return selfGone(err)
}

// ResetMFA removes every second factor of the user, passkeys included (an
// administrator's help for someone who lost them), and ends the user's sessions.
func (s *Service) ResetMFA(ctx context.Context, actor Actor, id uuid.UUID) error {
	if err := s.authorize(actor, policy.ResetUserFactors); err != nil {
		return err
	}
	if actor.ID() == id {
		return ErrSelfServiceRequired // one's own factors change at /v1/me, with a password and a code
	}
	err := s.store.InTx(ctx, func(tx *store.Store) error {
		target, err := lockManaged(ctx, tx, actor, id)
		if err != nil {
			return err
		}
		now := s.now()
		if err := tx.ClearMFA(ctx, id, now); err != nil {
			return err
		}
		if err := tx.DeletePasskeys(ctx, id); err != nil {
			return err
		}
		n, err := s.revokeUser(ctx, tx, id, "mfa_reset")
		if err != nil {
			return err
		}
		if err := s.notice(ctx, tx, &target.User, mail.NoticeFactorsReset, now); err != nil {
			return err
		}
		return tx.AddAudit(ctx, audit.Event(audit.MFADisabled, now, actor.ID(), id, actor.Client,
			actor.Details(audit.Details{"method": "all", "by": "administrator", "sessions_revoked": n})))
	})
	if err == nil {
		s.wakeMail()
	}
	return err
}
