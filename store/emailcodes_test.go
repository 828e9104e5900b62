package store_test

// Sign-in codes by email in the store, on both databases: what
// accounts.RequestEmailCode and VerifyEmailCode rely on — one live code per
// address (a newer one replaces it; expired ones of anyone are swept), found
// by address or by its link's token and locked for the transaction that
// decides on it, its wrong tries counted, its use recorded, and its end with
// its user (deleted, or its codes removed). A code for an address no account
// has (a sign-up by code) has no user.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// emailCodeTTL is the lifetime the tests give codes (EMAIL_CODE_TTL's default).
const emailCodeTTL = 10 * time.Minute

// newEmailCode is a code for address, of user (nil: a sign-up), made at created.
func newEmailCode(address string, user *models.User, created time.Time) *models.EmailCode {
	id := uuid.Must(uuid.NewV7())
	c := &models.EmailCode{
		ID: id, EmailKey: store.EmailKey(address), Email: address,
		CodeHash:  append([]byte{0xc0, 0x00, 0xff}, id[:]...),
		TokenHash: append([]byte{0x70, 0x00, 0x80}, id[:]...),
		CreatedAt: created, ExpiresAt: created.Add(emailCodeTTL),
	}
	if user != nil {
		c.UserID = &user.ID
	}
	return c
}

// openEmailCodes is a migrated store of the dialect with the built-in roles.
func openEmailCodes(t *testing.T, dialect string) *store.Store {
	t.Helper()
	st := testdb.Open(t, dialect)
	testdb.Must(t, st.EnsureBuiltinRoles(context.Background(), t0()))
	return st
}

// emailCodeIDs is the ids of every code in the database, sorted.
func emailCodeIDs(t *testing.T, st *store.Store) []uuid.UUID {
	t.Helper()
	var rows []models.EmailCode
	testdb.Must(t, st.GORM().Order("id").Find(&rows).Error)
	out := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func wantEmailCodes(t *testing.T, st *store.Store, what string, want ...*models.EmailCode) {
	t.Helper()
	ids := make([]uuid.UUID, len(want))
	for i, c := range want {
		ids[i] = c.ID
	}
	if got := emailCodeIDs(t, st); !sameUUIDSet(got, ids) {
		t.Errorf("%s: codes %v in the database; want %v", what, got, ids)
	}
}

// lockCode is LockEmailCode in a transaction of its own.
func lockCode(t *testing.T, st *store.Store, address string) (*models.EmailCode, error) {
	t.Helper()
	var c *models.EmailCode
	err := st.InTx(context.Background(), func(tx *store.Store) error {
		var err error
		c, err = tx.LockEmailCode(context.Background(), store.EmailKey(address))
		return err
	})
	return c, err
}

func mustLockCode(t *testing.T, st *store.Store, address string) *models.EmailCode {
	t.Helper()
	c, err := lockCode(t, st, address)
	if err != nil {
		t.Fatalf("LockEmailCode(%q): %v", address, err)
	}
	return c
}

// sameCode: got is want as stored (times compared as instants).
func sameCode(t *testing.T, what string, got, want *models.EmailCode) {
	t.Helper()
	switch {
	case got.ID != want.ID, got.EmailKey != want.EmailKey, got.Email != want.Email,
		!slices.Equal(got.CodeHash, want.CodeHash), !slices.Equal(got.TokenHash, want.TokenHash),
		got.Failures != want.Failures, !got.CreatedAt.Equal(want.CreatedAt), !got.ExpiresAt.Equal(want.ExpiresAt),
		(got.UserID == nil) != (want.UserID == nil), got.UserID != nil && *got.UserID != *want.UserID,
		(got.UsedAt == nil) != (want.UsedAt == nil), got.UsedAt != nil && !got.UsedAt.Equal(*want.UsedAt):
		t.Errorf("%s: got %+v; want %+v", what, got, want)
	}
}

func TestReplaceEmailCode(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		bob := addUser(t, st, "bob", []string{models.RoleUser}, nil)
		now := t0()

		first := newEmailCode(ada.Email, ada, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, first, now))
		bobs := newEmailCode(bob.Email, bob, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, bobs, now))
		signup := newEmailCode("new.comer@example.com", nil, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, signup, now))
		wantEmailCodes(t, st, "one code each for ada, bob and a sign-up", first, bobs, signup)

		// A newer code for ada, asked for in another spelling of her address:
		// her earlier code and link die; bob's and the sign-up's live on.
		later := now.Add(time.Minute)
		second := newEmailCode(strings.ToUpper(ada.Email), ada, later)
		if second.EmailKey != first.EmailKey {
			t.Fatalf("EmailKey(%q) = %q, EmailKey(%q) = %q; want one key", ada.Email, first.EmailKey, second.Email, second.EmailKey)
		}
		testdb.Must(t, st.ReplaceEmailCode(ctx, second, later))
		wantEmailCodes(t, st, "after a newer code for ada", second, bobs, signup)
		if _, err := st.LockEmailCodeByToken(ctx, first.TokenHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the replaced code's link: %v; want ErrNotFound", err)
		}
		sameCode(t, "ada's code after the replacement", mustLockCode(t, st, ada.Email), second)

		// A code for anyone, once the others have expired: they are swept
		// (the one that expires at this very instant too); ada's, still live, stays.
		sweep := now.Add(emailCodeTTL) // bob's and the sign-up's expire exactly now; ada's in a minute
		carol := newEmailCode("carol@example.com", nil, sweep)
		testdb.Must(t, st.ReplaceEmailCode(ctx, carol, sweep))
		wantEmailCodes(t, st, "after a code for carol when bob's and the sign-up's had expired", second, carol)

		// Used codes are not swept before they expire (they are what refuses a replay).
		testdb.Must(t, st.UseEmailCode(ctx, carol.ID, sweep))
		dave := newEmailCode("dave@example.com", nil, sweep.Add(time.Second))
		testdb.Must(t, st.ReplaceEmailCode(ctx, dave, sweep.Add(time.Second)))
		wantEmailCodes(t, st, "after a code for dave", second, carol, dave)

		// A replacement that fails (its link's token is taken) changes nothing.
		clash := newEmailCode(dave.Email, nil, sweep.Add(2*time.Second))
		clash.TokenHash = second.TokenHash
		if err := st.InTx(ctx, func(tx *store.Store) error {
			return tx.ReplaceEmailCode(ctx, clash, sweep.Add(2*time.Second))
		}); err == nil {
			t.Fatal("a code whose token hash another code has: stored; want an error")
		}
		wantEmailCodes(t, st, "after a failed replacement in a transaction", second, carol, dave)
	})
}

func TestLockEmailCode(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		now := t0()

		if _, err := lockCode(t, st, ada.Email); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockEmailCode of an address with no code: %v; want ErrNotFound", err)
		}
		if _, err := st.LockEmailCodeByToken(ctx, []byte("no such token")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockEmailCodeByToken of an unknown token: %v; want ErrNotFound", err)
		}

		c := newEmailCode(ada.Email, ada, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, c, now))
		sameCode(t, "LockEmailCode", mustLockCode(t, st, ada.Email), c)
		sameCode(t, "LockEmailCode by another spelling's key", mustLockCode(t, st, "ADA@Example.COM"), c)
		if _, err := lockCode(t, st, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockEmailCode of another address: %v; want ErrNotFound", err)
		}
		var byToken *models.EmailCode
		testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
			var err error
			byToken, err = tx.LockEmailCodeByToken(ctx, c.TokenHash)
			return err
		}))
		sameCode(t, "LockEmailCodeByToken", byToken, c)
		if _, err := st.LockEmailCodeByToken(ctx, c.CodeHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockEmailCodeByToken with the code's hash: %v; want ErrNotFound", err)
		}

		// One code per address: the schema refuses a second row, and a
		// replacement takes the row over, id included.
		if err := st.GORM().Create(newEmailCode(ada.Email, ada, now.Add(-time.Minute))).Error; err == nil {
			t.Error("a second code for one address was stored beside the first")
		}
		newer := newEmailCode(ada.Email, ada, now.Add(time.Minute))
		testdb.Must(t, st.ReplaceEmailCode(ctx, newer, now))
		sameCode(t, "LockEmailCode after a replacement", mustLockCode(t, st, ada.Email), newer)

		// Used and expired codes are found too: the caller decides, so that
		// they are refused rather than unknown.
		testdb.Must(t, st.UseEmailCode(ctx, newer.ID, now))
		testdb.Must(t, st.GORM().Model(&models.EmailCode{}).Where("id = ?", newer.ID).
			UpdateColumn("expires_at", now.Add(-time.Second)).Error)
		got := mustLockCode(t, st, ada.Email)
		if got.ID != newer.ID || got.UsedAt == nil || !got.ExpiresAt.Equal(now.Add(-time.Second)) {
			t.Errorf("LockEmailCode of a used, expired code: %+v; want it, used, expired", got)
		}
		if got, err := st.LockEmailCodeByToken(ctx, newer.TokenHash); err != nil || got.ID != newer.ID || got.UsedAt == nil {
			t.Errorf("LockEmailCodeByToken of a used, expired code: %+v, %v; want it", got, err)
		}
	})
}

func TestEmailCodeFailuresAndUse(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		bob := addUser(t, st, "bob", []string{models.RoleUser}, nil)
		now := t0()
		c := newEmailCode(ada.Email, ada, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, c, now))
		other := newEmailCode(bob.Email, bob, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, other, now))

		for want := 1; want <= 3; want++ {
			testdb.Must(t, st.InTx(ctx, func(tx *store.Store) error {
				if _, err := tx.LockEmailCode(ctx, c.EmailKey); err != nil {
					return err
				}
				return tx.FailEmailCode(ctx, c.ID)
			}))
			if got := mustLockCode(t, st, ada.Email); got.Failures != want || got.UsedAt != nil {
				t.Errorf("after %d FailEmailCode: failures %d, used %v; want %d, unused", want, got.Failures, got.UsedAt, want)
			}
		}
		// A failure counted in a transaction that is rolled back is not counted.
		boom := errors.New("rolled back")
		if err := st.InTx(ctx, func(tx *store.Store) error {
			testdb.Must(t, tx.FailEmailCode(ctx, c.ID))
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		if got := mustLockCode(t, st, ada.Email); got.Failures != 3 {
			t.Errorf("after a rolled-back FailEmailCode: failures %d; want 3", got.Failures)
		}
		if got := mustLockCode(t, st, bob.Email); got.Failures != 0 {
			t.Errorf("bob's code after ada's failures: failures %d; want 0", got.Failures)
		}

		used := now.Add(90 * time.Second).Add(123 * time.Microsecond)
		testdb.Must(t, st.UseEmailCode(ctx, c.ID, used))
		got := mustLockCode(t, st, ada.Email)
		if got.UsedAt == nil || !got.UsedAt.Equal(used) || got.Failures != 3 {
			t.Errorf("after UseEmailCode at %v: used_at %v, failures %d; want %v, 3", used, got.UsedAt, got.Failures, used)
		}
		if b, err := st.LockEmailCodeByToken(ctx, c.TokenHash); err != nil || b.UsedAt == nil || !b.UsedAt.Equal(used) {
			t.Errorf("the used code's link: %+v, %v; want used at %v (one row for code and link)", b, err, used)
		}
		if got := mustLockCode(t, st, bob.Email); got.UsedAt != nil {
			t.Errorf("bob's code after ada's use: used at %v; want unused", got.UsedAt)
		}
	})
}

func TestDeleteEmailCodes(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		bob := addUser(t, st, "bob", []string{models.RoleUser}, nil)
		now := t0()
		adas := newEmailCode(ada.Email, ada, now)
		bobs := newEmailCode(bob.Email, bob, now)
		// A code of ada's to an address that is not (or no longer) hers: it is
		// hers all the same (an address change in flight).
		adaElsewhere := newEmailCode("ada.new@example.com", ada, now)
		signup := newEmailCode("new.comer@example.com", nil, now)
		for _, c := range []*models.EmailCode{adas, bobs, adaElsewhere, signup} {
			testdb.Must(t, st.ReplaceEmailCode(ctx, c, now))
		}
		testdb.Must(t, st.DeleteEmailCodes(ctx, ada.ID))
		wantEmailCodes(t, st, "after DeleteEmailCodes(ada)", bobs, signup)
		testdb.Must(t, st.DeleteEmailCodes(ctx, ada.ID)) // none left: not an error
		testdb.Must(t, st.DeleteEmailCodes(ctx, uuid.Must(uuid.NewV7())))
		wantEmailCodes(t, st, "after DeleteEmailCodes of nobody", bobs, signup)
	})
}

// TestEmailCodeSignup: a code with no user (for an address no account has)
// is stored, found, counted and used like any other, and outlives the
// account made for its address meanwhile (the caller decides what then).
func TestEmailCodeSignup(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		now := t0()
		c := newEmailCode("new.comer@example.com", nil, now)
		testdb.Must(t, st.ReplaceEmailCode(ctx, c, now))
		got := mustLockCode(t, st, "New.Comer@example.com")
		sameCode(t, "the sign-up code", got, c)
		if got.UserID != nil {
			t.Errorf("the sign-up code's user: %v; want null", *got.UserID)
		}
		var null int64
		testdb.Must(t, st.GORM().Model(&models.EmailCode{}).Where("id = ? AND user_id IS NULL", c.ID).Count(&null).Error)
		if null != 1 {
			t.Errorf("the sign-up code's user_id is not NULL in the database")
		}
		testdb.Must(t, st.FailEmailCode(ctx, c.ID))
		testdb.Must(t, st.UseEmailCode(ctx, c.ID, now.Add(time.Second)))
		if got := mustLockCode(t, st, c.Email); got.Failures != 1 || got.UsedAt == nil {
			t.Errorf("the sign-up code after a failure and its use: %+v", got)
		}

		// The account made for the address: the code is untouched, and a new
		// code for it (with the user) replaces the sign-up's.
		u := addUser(t, st, "new.comer", []string{models.RoleUser}, func(u *models.User) { u.Email = c.Email })
		wantEmailCodes(t, st, "after the account was made", c)
		mine := newEmailCode(u.Email, u, now.Add(time.Minute))
		testdb.Must(t, st.ReplaceEmailCode(ctx, mine, now.Add(time.Minute)))
		wantEmailCodes(t, st, "after a code for the new account", mine)
		// Another sign-up code survives a user's DeleteEmailCodes.
		other := newEmailCode("someone@example.com", nil, now.Add(time.Minute))
		testdb.Must(t, st.ReplaceEmailCode(ctx, other, now.Add(time.Minute)))
		testdb.Must(t, st.DeleteEmailCodes(ctx, u.ID))
		wantEmailCodes(t, st, "after DeleteEmailCodes of the new account", other)
	})
}

func TestEmailCodesGoWithTheirUser(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		bob := addUser(t, st, "bob", []string{models.RoleUser}, nil)
		now := t0()
		adas := newEmailCode(ada.Email, ada, now)
		bobs := newEmailCode(bob.Email, bob, now)
		signup := newEmailCode("new.comer@example.com", nil, now)
		for _, c := range []*models.EmailCode{adas, bobs, signup} {
			testdb.Must(t, st.ReplaceEmailCode(ctx, c, now))
		}
		testdb.Must(t, st.DeleteUser(ctx, ada.ID))
		wantEmailCodes(t, st, "after ada was deleted", bobs, signup)
		if _, err := lockCode(t, st, ada.Email); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockEmailCode of the deleted user's address: %v; want ErrNotFound", err)
		}
		if _, err := st.LockEmailCodeByToken(ctx, adas.TokenHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the deleted user's link: %v; want ErrNotFound", err)
		}
		if _, err := st.DeleteAllUsers(ctx); err != nil {
			t.Fatal(err)
		}
		wantEmailCodes(t, st, "after every user was deleted", signup)

		// A code cannot name a user that does not exist.
		ghost := &models.User{ID: uuid.Must(uuid.NewV7())}
		if err := st.ReplaceEmailCode(ctx, newEmailCode("ghost@example.com", ghost, now), now); err == nil {
			t.Error("a code for a user who does not exist: stored; want a foreign-key error")
		}
	})
}

// TestLockEmailCodeSerialises: a transaction that locks a code and uses it
// holds back another that locks the same code (found by address or by token)
// until it commits, so the other sees it used: what makes a code work once
// when it reaches several instances at the same time.
func TestLockEmailCodeSerialises(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		now := t0()

		for _, byToken := range []bool{false, true} {
			c := newEmailCode(ada.Email, ada, now)
			testdb.Must(t, st.ReplaceEmailCode(ctx, c, now))
			find := func(tx *store.Store) (*models.EmailCode, error) {
				if byToken {
					return tx.LockEmailCodeByToken(ctx, c.TokenHash)
				}
				return tx.LockEmailCode(ctx, c.EmailKey)
			}
			locked := make(chan struct{})
			release := make(chan struct{})
			var wg sync.WaitGroup
			var firstErr, secondErr error
			var seen *models.EmailCode
			wg.Add(1)
			go func() {
				defer wg.Done()
				firstErr = st.InTx(ctx, func(tx *store.Store) error {
					got, err := find(tx)
					if err != nil {
						close(locked)
						return err
					}
					if got.UsedAt != nil {
						close(locked)
						return errors.New("the first transaction found the code used")
					}
					close(locked)
					<-release
					return tx.UseEmailCode(ctx, got.ID, now.Add(time.Second))
				})
			}()
			<-locked
			wg.Add(1)
			go func() {
				defer wg.Done()
				secondErr = st.InTx(ctx, func(tx *store.Store) error {
					var err error
					seen, err = find(tx)
					return err
				})
			}()
			time.Sleep(200 * time.Millisecond) // the second transaction is waiting on the lock by now
			close(release)
			wg.Wait()
			if firstErr != nil || secondErr != nil {
				t.Fatalf("byToken=%v: first %v, second %v", byToken, firstErr, secondErr)
			}
			if seen.UsedAt == nil {
				t.Errorf("byToken=%v: the second transaction found the code unused while the first, which locked it, was using it", byToken)
			}
		}
	})
}

// TestReplaceEmailCodeConcurrent: two requests for one address whose
// transactions overlap (two instances, at once) leave one code, not two
// live ones: a newer request kills the older code and link, and the address
// has at most one.
func TestReplaceEmailCodeConcurrent(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := openEmailCodes(t, d)
		ada := addUser(t, st, "ada", []string{models.RoleUser}, nil)
		now := t0()
		first, second := newEmailCode(ada.Email, ada, now), newEmailCode(ada.Email, ada, now.Add(time.Second))

		replaced := make(chan struct{})
		release := make(chan struct{})
		var wg sync.WaitGroup
		var firstErr, secondErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			firstErr = st.InTx(ctx, func(tx *store.Store) error {
				err := tx.ReplaceEmailCode(ctx, first, now)
				close(replaced)
				<-release // the mail is queued, the audit written… while the other request runs
				return err
			})
		}()
		<-replaced
		go func() {
			defer wg.Done()
			secondErr = st.InTx(ctx, func(tx *store.Store) error {
				return tx.ReplaceEmailCode(ctx, second, now.Add(time.Second))
			})
		}()
		time.Sleep(200 * time.Millisecond)
		close(release)
		wg.Wait()
		testdb.Must(t, firstErr)
		var n int64
		testdb.Must(t, st.GORM().Model(&models.EmailCode{}).Where("email_key = ?", first.EmailKey).Count(&n).Error)
		if n != 1 {
			t.Errorf("after two overlapping requests for one address (second: %v): %d codes stored for it; want 1", secondErr, n)
		}
	})
}
