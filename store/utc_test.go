package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// Zones other than UTC, on either side of it.
var (
	ahead  = time.FixedZone("ahead", 5*3600+30*60)
	behind = time.FixedZone("behind", -8*3600)
)

// sqliteTime is how the SQLite driver writes a time: in UTC, every stored
// time has the same offset and text order is time order.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// TestTimesReachTheDatabaseInUTC writes times in other zones through each way
// a statement takes to the database (a model created, alone and in a batch;
// an update map; one column; Raw and Exec; the same inside a transaction and
// a nested one) and checks, on SQLite, that each was stored as UTC text, that
// each reads back as the same instant, and that comparisons with a bound in
// a third zone (Where, Raw, Delete) find the right rows.
func TestTimesReachTheDatabaseInUTC(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		at := func(minutes int, zone *time.Location) time.Time {
			return t0().Add(time.Duration(minutes) * time.Minute).In(zone)
		}
		ptr := func(t time.Time) *time.Time { return &t }
		want := map[string]time.Time{} // key_hash → updated_at
		lock := func(key string, updated time.Time) *models.LoginLockout {
			want[key] = updated
			return &models.LoginLockout{KeyHash: []byte(key), UpdatedAt: updated, LockedUntil: ptr(updated.Add(time.Hour))}
		}
		db := st.GORM()

		testdb.Must(t, db.Create(lock("create", at(1, ahead))).Error)
		testdb.Must(t, db.CreateInBatches([]*models.LoginLockout{lock("batch1", at(2, behind)), lock("batch2", at(3, ahead))}, 10).Error)

		testdb.Must(t, db.Create(lock("updates", at(0, time.UTC))).Error)
		want["updates"] = at(4, behind)
		testdb.Must(t, db.Model(&models.LoginLockout{}).Where("key_hash = ?", []byte("updates")).
			Updates(map[string]any{"updated_at": want["updates"], "locked_until": ptr(want["updates"].Add(time.Hour))}).Error)

		testdb.Must(t, db.Create(lock("column", at(0, time.UTC))).Error)
		want["column"] = at(5, ahead)
		testdb.Must(t, db.Model(&models.LoginLockout{}).Where("key_hash = ?", []byte("column")).
			UpdateColumns(map[string]any{"updated_at": want["column"], "locked_until": ptr(want["column"].Add(time.Hour))}).Error)

		exec := func(db *gorm.DB, key string, updated time.Time) error {
			if err := db.Create(lock(key, at(0, time.UTC))).Error; err != nil {
				return err
			}
			want[key] = updated
			return db.Exec("UPDATE login_lockouts SET updated_at = ?, locked_until = ? WHERE key_hash = ?",
				updated, ptr(updated.Add(time.Hour)), []byte(key)).Error
		}
		testdb.Must(t, exec(db, "exec", at(6, behind)))

		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.GORM().Create(lock("tx", at(7, ahead))).Error; err != nil {
				return err
			}
			if err := exec(tx.GORM(), "tx exec", at(8, behind)); err != nil {
				return err
			}
			return tx.InTx(ctx, func(tx *store.Store) error { // a savepoint
				return tx.GORM().Create(lock("nested", at(9, behind))).Error
			})
		}))

		// Stored as UTC text (SQLite), read back as the same instants.
		if d == store.SQLite {
			sqlDB, err := st.SQL()
			testdb.Must(t, err)
			rows, err := sqlDB.Query("SELECT key_hash, CAST(updated_at AS TEXT), CAST(locked_until AS TEXT) FROM login_lockouts")
			testdb.Must(t, err)
			n := 0
			for rows.Next() {
				var key []byte
				var updated, until string
				testdb.Must(t, rows.Scan(&key, &updated, &until))
				w := want[string(key)]
				if updated != w.UTC().Format(sqliteTime) || until != w.Add(time.Hour).UTC().Format(sqliteTime) {
					t.Errorf("%s stored as %q, %q; want %q, %q", key, updated, until,
						w.UTC().Format(sqliteTime), w.Add(time.Hour).UTC().Format(sqliteTime))
				}
				n++
			}
			testdb.Must(t, rows.Err())
			if n != len(want) {
				t.Errorf("%d rows; want %d", n, len(want))
			}
		}
		var all []models.LoginLockout
		testdb.Must(t, db.Find(&all).Error)
		for _, l := range all {
			w := want[string(l.KeyHash)]
			if !l.UpdatedAt.Equal(w) || l.LockedUntil == nil || !l.LockedUntil.Equal(w.Add(time.Hour)) {
				t.Errorf("%s read back as %v, %v; want %v", l.KeyHash, l.UpdatedAt, l.LockedUntil, w)
			}
		}

		// Compared with bounds in a third zone: t0+4m30s falls between
		// "updates" (t0+4m) and "column" (t0+5m), whatever zone each is in.
		bound := at(4, ahead).Add(30 * time.Second)
		before := []string{"batch1", "batch2", "create", "updates"}
		keys := func(ls []models.LoginLockout) []string {
			out := []string{}
			for _, l := range ls {
				out = append(out, string(l.KeyHash))
			}
			slices.Sort(out)
			return out
		}
		var where []models.LoginLockout
		testdb.Must(t, db.Where("updated_at < ?", bound).Find(&where).Error)
		if got := keys(where); !slices.Equal(got, before) {
			t.Errorf("Where updated_at < %v: %v; want %v", bound, got, before)
		}
		var raw []models.LoginLockout
		testdb.Must(t, db.Raw("SELECT * FROM login_lockouts WHERE locked_until < ?", bound.Add(time.Hour)).Scan(&raw).Error)
		if got := keys(raw); !slices.Equal(got, before) {
			t.Errorf("Raw locked_until < %v: %v; want %v", bound.Add(time.Hour), got, before)
		}
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			res := tx.GORM().Where("updated_at < ?", ptr(bound.In(behind))).Delete(&models.LoginLockout{})
			if res.Error == nil && res.RowsAffected != int64(len(before)) {
				t.Errorf("Delete updated_at < %v in a transaction: %d rows; want %d", bound, res.RowsAffected, len(before))
			}
			return res.Error
		}))
	})
}

// TestStoreTimesInOtherZones: the store's methods that compare times in SQL
// give the same answers for instants in any zone (the others have theirs in
// contract_test.go and outbox_test.go).
func TestStoreTimesInOtherZones(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		u := addUser(t, st, "zed", nil, nil)

		// Mailed links: expired ones go, an unexpired one is used once.
		other := addUser(t, st, "xavier", nil, nil)
		old := &models.EmailToken{ID: uuid.Must(uuid.NewV7()), UserID: other.ID, TokenHash: []byte("old"),
			Purpose: models.EmailVerify, Email: other.Email, CreatedAt: t0().In(ahead), ExpiresAt: t0().Add(time.Hour).In(ahead)}
		testdb.Must(t, st.CreateEmailToken(ctx, old))
		tok := &models.EmailToken{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, TokenHash: []byte("new"),
			Purpose: models.EmailVerify, Email: u.Email, CreatedAt: t0().In(behind), ExpiresAt: t0().Add(2 * time.Hour).In(behind)}
		testdb.Must(t, st.SupersedeEmailTokens(ctx, u.ID, models.EmailVerify, t0().Add(90*time.Minute).In(behind)))
		testdb.Must(t, st.CreateEmailToken(ctx, tok))
		if _, err := st.EmailTokenByHash(ctx, old.TokenHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a link expired at t0+1h is still there after housekeeping at t0+90m: %v", err)
		}
		if ok, err := st.UseEmailToken(ctx, tok.ID, t0().Add(2*time.Hour).In(ahead)); err != nil || ok {
			t.Errorf("UseEmailToken at its expiry = %v, %v; want false", ok, err)
		}
		if ok, err := st.UseEmailToken(ctx, tok.ID, t0().Add(119*time.Minute).In(ahead)); err != nil || !ok {
			t.Errorf("UseEmailToken a minute before its expiry = %v, %v; want true", ok, err)
		}

		// Reset tokens, the same.
		rt := &models.PasswordResetToken{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, TokenHash: []byte("reset"),
			CreatedAt: t0().In(ahead), ExpiresAt: t0().Add(time.Hour).In(ahead)}
		testdb.Must(t, st.CreateResetToken(ctx, rt))
		testdb.Must(t, st.SupersedeResetTokens(ctx, uuid.Nil, t0().Add(59*time.Minute).In(behind)))
		if _, err := st.ResetTokenByHash(ctx, rt.TokenHash); err != nil {
			t.Errorf("housekeeping at t0+59m deleted a reset token valid until t0+1h: %v", err)
		}
		if ok, err := st.UseResetToken(ctx, rt.ID, t0().Add(time.Hour).In(behind)); err != nil || ok {
			t.Errorf("UseResetToken at its expiry = %v, %v; want false", ok, err)
		}
		if ok, err := st.UseResetToken(ctx, rt.ID, t0().Add(59*time.Minute).In(behind)); err != nil || !ok {
			t.Errorf("UseResetToken a minute before its expiry = %v, %v; want true", ok, err)
		}

		// The revocation feed lists what has not expired, and housekeeping
		// deletes the rest.
		early, late := uuid.New(), uuid.New()
		for _, r := range []models.Revocation{
			{SessionID: early, ExpiresAt: t0().Add(time.Minute).In(ahead), CreatedAt: t0().In(ahead)},
			{SessionID: late, ExpiresAt: t0().Add(time.Hour).In(behind), CreatedAt: t0().In(behind)},
		} {
			testdb.Must(t, st.GORM().Create(&r).Error)
		}
		list, err := st.RevocationsAfter(ctx, store.FeedPosition{}, t0().Add(2*time.Minute).In(behind), 10)
		testdb.Must(t, err)
		if len(list) != 1 || list[0].SessionID != late {
			t.Errorf("RevocationsAfter at t0+2m listed %+v; want the late one only", list)
		}
		testdb.Must(t, st.DeleteExpiredRevocations(ctx, t0().Add(2*time.Minute).In(ahead)))
		var n int64
		testdb.Must(t, st.GORM().Model(&models.Revocation{}).Count(&n).Error)
		if n != 1 {
			t.Errorf("%d revocations after housekeeping at t0+2m; want 1", n)
		}
	})
}
