package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

// Expired revocations are listed no more, and housekeeping deletes them;
// the others stay, in feed order.
func TestRevocationsExpireAndAreDeleted(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := testdb.Open(t, dialect)
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		old, live := uuid.New(), uuid.New()
		for _, r := range []models.Revocation{
			{SessionID: old, ExpiresAt: now.Add(-time.Second), CreatedAt: now.Add(-time.Hour)},
			{SessionID: live, ExpiresAt: now.Add(time.Hour), CreatedAt: now},
		} {
			testdb.Must(t, st.GORM().Create(&r).Error)
		}
		list, err := st.RevocationsAfter(ctx, store.FeedPosition{}, now, 10)
		testdb.Must(t, err)
		if len(list) != 1 || list[0].SessionID != live {
			t.Fatalf("listed %+v; want the live one only", list)
		}
		testdb.Must(t, st.DeleteExpiredRevocations(ctx, now))
		var n int64
		testdb.Must(t, st.GORM().Model(&models.Revocation{}).Count(&n).Error)
		if n != 1 {
			t.Fatalf("%d revocations left; want 1", n)
		}
		after, err := st.RevocationsAfter(ctx, list[0].Position, now, 10)
		testdb.Must(t, err)
		if len(after) != 0 {
			t.Fatalf("after the last position: %+v", after)
		}
	})
}
