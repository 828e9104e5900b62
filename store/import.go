package store

import (
	"context"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/authsvc/authsvc/models"
)

// ImportRow is one user of a bulk import with its roles (which must exist).
type ImportRow struct {
	User  models.User
	Roles []string
}

// ImportUsers inserts rows in one multi-row statement for the users and one
// for their roles, skipping any whose email or username is taken (by an
// existing user or by an earlier row). It reports which rows were inserted.
// Call it inside a transaction (InTx); the user count triggers keep
// CountUsers right.
//
// There is no look-up of taken keys first: the unique indexes decide, by ON
// CONFLICT DO NOTHING. (A look-up of 1,000 keys as bound parameters meets a
// generic plan that scans the table and compares every row with every key
// while the table's statistics are those of a smaller table: minutes for
// 100,000 users on PostgreSQL.)
func (s *Store) ImportUsers(ctx context.Context, rows []ImportRow) ([]bool, error) {
	inserted := make([]bool, len(rows))
	for i := range rows {
		u := &rows[i].User
		u.EmailKey, u.UsernameKey = EmailKey(u.Email), FoldKey(u.Username)
	}
	held := map[string]bool{} // the keys of the users inserted so far
	pending := make([]int, len(rows))
	for i := range pending {
		pending[i] = i
	}
	// Each round inserts the rows whose keys no earlier row of the round
	// claims. A row held back for a key whose claimer the database refused
	// is tried again in the next round; one whose key an inserted row holds
	// is skipped. Without conflicts there is one round.
	for len(pending) > 0 {
		claimed := map[string]bool{}
		var round, later []int
		for _, i := range pending {
			e, n := "e:"+rows[i].User.EmailKey, "u:"+rows[i].User.UsernameKey
			switch {
			case held[e] || held[n]:
			case claimed[e] || claimed[n]:
				later = append(later, i)
			default:
				claimed[e], claimed[n] = true, true
				round = append(round, i)
			}
		}
		ok, err := s.insertUsers(ctx, rows, round)
		if err != nil {
			return nil, err
		}
		for j, i := range round {
			if ok[j] {
				inserted[i] = true
				held["e:"+rows[i].User.EmailKey], held["u:"+rows[i].User.UsernameKey] = true, true
			}
		}
		pending = later
	}
	var grants []models.UserRole
	for i, ok := range inserted {
		if !ok {
			continue
		}
		for _, r := range models.SortedSet(rows[i].Roles) {
			grants = append(grants, models.UserRole{UserID: rows[i].User.ID, RoleName: r})
		}
	}
	if len(grants) > 0 {
		if err := s.conn(ctx).CreateInBatches(&grants, 2000).Error; err != nil {
			return nil, translate(err)
		}
	}
	return inserted, nil
}

// insertUsers inserts the users rows[idx], skipping any whose email, username
// or id is taken, and says which were inserted.
func (s *Store) insertUsers(ctx context.Context, rows []ImportRow, idx []int) ([]bool, error) {
	ok := make([]bool, len(idx))
	if len(idx) == 0 {
		return ok, nil
	}
	users := make([]models.User, len(idx))
	for j, i := range idx {
		users[j] = rows[i].User
	}
	// DO NOTHING: a user created meanwhile by someone else is a skip, not a
	// failure of the whole batch.
	res := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&users)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected == int64(len(users)) {
		for j := range ok {
			ok[j] = true
		}
		return ok, nil
	}
	ids := make([]uuid.UUID, len(users))
	for j := range users {
		ids[j] = users[j].ID
	}
	// The ids are new (v7, made by the import), so a row with one is ours.
	var got []uuid.UUID
	if err := s.conn(ctx).Model(&models.User{}).Where("id IN ?", ids).Pluck("id", &got).Error; err != nil {
		return nil, err
	}
	in := make(map[uuid.UUID]bool, len(got))
	for _, id := range got {
		in[id] = true
	}
	for j := range users {
		ok[j] = in[users[j].ID]
	}
	return ok, nil
}

// ExportUsers calls fn with every user and its role names, in id order, a
// page at a time.
func (s *Store) ExportUsers(ctx context.Context, fn func(u *models.User, roles []string) error) error {
	var after uuid.UUID
	for {
		var page []models.User
		if err := s.conn(ctx).Where("id > ?", after).Order("id").Limit(1000).Find(&page).Error; err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(page))
		for i := range page {
			ids[i] = page[i].ID
		}
		var grants []models.UserRole
		if err := s.conn(ctx).Where("user_id IN ?", ids).Order("role_name").Find(&grants).Error; err != nil {
			return err
		}
		roles := make(map[uuid.UUID][]string, len(page))
		for _, g := range grants {
			roles[g.UserID] = append(roles[g.UserID], g.RoleName)
		}
		for i := range page {
			r := roles[page[i].ID]
			if r == nil {
				r = []string{}
			}
			if err := fn(&page[i], r); err != nil {
				return err
			}
		}
		after = page[len(page)-1].ID
	}
}
