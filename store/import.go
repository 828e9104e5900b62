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
func (s *Store) ImportUsers(ctx context.Context, rows []ImportRow) ([]bool, error) {
	inserted := make([]bool, len(rows))
	if len(rows) == 0 {
		return inserted, nil
	}
	emails := make([]string, len(rows))
	names := make([]string, len(rows))
	for i := range rows {
		u := &rows[i].User
		u.EmailKey, u.UsernameKey = EmailKey(u.Email), FoldKey(u.Username)
		emails[i], names[i] = u.EmailKey, u.UsernameKey
	}
	var taken []struct{ EmailKey, UsernameKey string }
	if err := s.conn(ctx).Model(&models.User{}).Select("email_key", "username_key").
		Where("email_key IN ? OR username_key IN ?", emails, names).Scan(&taken).Error; err != nil {
		return nil, err
	}
	seen := make(map[string]bool, 2*(len(rows)+len(taken)))
	for _, t := range taken {
		seen["e:"+t.EmailKey], seen["u:"+t.UsernameKey] = true, true
	}
	var users []models.User
	var idx []int
	for i := range rows {
		u := rows[i].User
		if seen["e:"+u.EmailKey] || seen["u:"+u.UsernameKey] {
			continue
		}
		seen["e:"+u.EmailKey], seen["u:"+u.UsernameKey] = true, true
		users, idx = append(users, u), append(idx, i)
	}
	if len(users) == 0 {
		return inserted, nil
	}
	// DO NOTHING: a user created meanwhile by someone else is a skip, not a
	// failure of the whole batch.
	res := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&users)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected == int64(len(users)) {
		for _, i := range idx {
			inserted[i] = true
		}
	} else {
		ids := make([]uuid.UUID, len(users))
		for j := range users {
			ids[j] = users[j].ID
		}
		var got []uuid.UUID
		if err := s.conn(ctx).Model(&models.User{}).Where("id IN ?", ids).Pluck("id", &got).Error; err != nil {
			return nil, err
		}
		in := make(map[uuid.UUID]bool, len(got))
		for _, id := range got {
			in[id] = true
		}
		for j, i := range idx {
			inserted[i] = in[users[j].ID]
		}
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
