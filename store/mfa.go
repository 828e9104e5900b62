package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
)

// AdvanceTOTPStep records that the code of TOTP time step was accepted, if no
// code of that step or a later one was accepted before, and reports whether
// it did: a code works once, whichever instance sees it.
func (s *Store) AdvanceTOTPStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error) {
	res := s.conn(ctx).Model(&models.User{}).Where("id = ? AND totp_last_step < ?", userID, step).
		UpdateColumn("totp_last_step", step)
	return res.RowsAffected == 1, res.Error
}

// ReplaceRecoveryCodes stores a new set of recovery codes (their MACs) in
// place of the user's old set.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID uuid.UUID, hashes [][]byte) error {
	if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&models.RecoveryCode{}).Error; err != nil {
		return err
	}
	codes := make([]models.RecoveryCode, len(hashes))
	for i, h := range hashes {
		codes[i] = models.RecoveryCode{UserID: userID, CodeHash: h}
	}
	if len(codes) > 0 {
		if err := translate(s.conn(ctx).Create(&codes).Error); err != nil {
			return err
		}
	}
	return s.setRecoveryCodesLeft(ctx, userID, "?", len(codes))
}

// UseRecoveryCode marks the user's code with this MAC used, if it is unused,
// and reports whether it did.
func (s *Store) UseRecoveryCode(ctx context.Context, userID uuid.UUID, hash []byte, now time.Time) (bool, error) {
	res := s.conn(ctx).Model(&models.RecoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).
		Update("used_at", now)
	if res.Error != nil || res.RowsAffected != 1 {
		return false, res.Error
	}
	return true, s.setRecoveryCodesLeft(ctx, userID, "recovery_codes_left - ?", 1)
}

// setRecoveryCodesLeft keeps users.recovery_codes_left, which user views show,
// in step with the codes.
func (s *Store) setRecoveryCodesLeft(ctx context.Context, userID uuid.UUID, expr string, n int) error {
	err := s.conn(ctx).Exec("UPDATE users SET recovery_codes_left = "+expr+" WHERE id = ?", n, userID).Error
	if err != nil {
		return err
	}
	return s.userChanged(ctx, userID)
}

// ClearMFA turns the user's TOTP off and removes its recovery codes and any
// second login step in progress (not its passkeys: DeletePasskeys).
func (s *Store) ClearMFA(ctx context.Context, userID uuid.UUID, now time.Time) error {
	if err := s.UpdateUser(ctx, userID, now, UserUpdate{
		TOTPSecretSealed: Null[[]byte](), TOTPEnabledAt: Null[time.Time](), TOTPLastStep: new(int64(0)), RecoveryCodesLeft: new(0),
	}); err != nil {
		return err
	}
	if err := s.conn(ctx).Where("user_id = ?", userID).Delete(&models.RecoveryCode{}).Error; err != nil {
		return err
	}
	return s.DeleteMFAChallenges(ctx, userID)
}

// CreateMFAChallenge stores a second login step, which holds only its token's
// MAC, and drops every expired one of anyone (housekeeping).
func (s *Store) CreateMFAChallenge(ctx context.Context, c *models.MFAChallenge) error {
	return s.createDroppingExpired(ctx, c, &models.MFAChallenge{}, c.CreatedAt)
}

// MFAChallengeUser is the user a second login step (by its token's MAC) belongs to.
func (s *Store) MFAChallengeUser(ctx context.Context, hash []byte) (uuid.UUID, error) {
	var c models.MFAChallenge
	if err := s.conn(ctx).Select("user_id").Take(&c, "token_hash = ?", hash).Error; err != nil {
		return uuid.Nil, translate(err)
	}
	return c.UserID, nil
}

// LockMFAChallenge finds a second login step by its token's MAC and, on
// PostgreSQL, locks it for the transaction: attempts at one step queue. Lock
// its user first (LockUser), as every change of a user's steps does.
func (s *Store) LockMFAChallenge(ctx context.Context, hash []byte) (*models.MFAChallenge, error) {
	var c models.MFAChallenge
	if err := s.forUpdate(s.conn(ctx)).Take(&c, "token_hash = ?", hash).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// SetMFAChallenge records a wrong code against the step (failures) or its use (used).
func (s *Store) SetMFAChallenge(ctx context.Context, id uuid.UUID, failures int, used *time.Time) error {
	if used != nil {
		t := *used
		used = &t
	}
	return s.conn(ctx).Model(&models.MFAChallenge{}).Where("id = ?", id).
		UpdateColumns(map[string]any{"failures": failures, "used_at": used}).Error
}

// DeleteMFAChallenges ends every second login step of the user in progress.
func (s *Store) DeleteMFAChallenges(ctx context.Context, userID uuid.UUID) error {
	return s.conn(ctx).Where("user_id = ?", userID).Delete(&models.MFAChallenge{}).Error
}
