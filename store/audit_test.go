package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/audit"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
)

func TestListAuditStore(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		st := testdb.Open(t, d)
		a, b := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
		var ids []uuid.UUID
		for i := range 10 {
			user, typ := a, audit.LoginFailed
			if i%2 == 1 {
				user, typ = b, audit.LoginSucceeded
			}
			ev := audit.Event(typ, t0(), uuid.Nil, user, audit.Client{IP: "192.0.2.1"}, audit.Details{"i": i})
			testdb.Must(t, st.AddAudit(ctx, ev))
			ids = append(ids, ev.ID)
		}
		slices.Reverse(ids) // newest first
		all, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100})
		testdb.Must(t, err)
		page1, err := st.ListAudit(ctx, store.AuditFilter{Limit: 4})
		testdb.Must(t, err)
		page2, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100, Before: page1[3].ID})
		testdb.Must(t, err)
		got := func(list []models.AuditEvent) []uuid.UUID {
			out := []uuid.UUID{}
			for _, e := range list {
				out = append(out, e.ID)
			}
			return out
		}
		if !slices.Equal(got(all), ids) || !slices.Equal(append(got(page1), got(page2)...), ids) {
			t.Fatalf("order: %v / %v+%v, want %v", got(all), got(page1), got(page2), ids)
		}
		onlyB, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100, UserID: b, Type: audit.LoginSucceeded})
		testdb.Must(t, err)
		onlyBFailed, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100, UserID: b, Type: audit.LoginFailed})
		testdb.Must(t, err)
		if len(onlyB) != 5 || len(onlyBFailed) != 0 || *onlyB[0].UserID != b {
			t.Fatalf("filtered: %d, %d", len(onlyB), len(onlyBFailed))
		}
	})
}
