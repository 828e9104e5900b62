package store

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/authsvc/authsvc/models"
)

// UserFilter selects a page of users for ListUsers. Pages are keyset-paginated
// by id (UUIDv7, so roughly creation order): After is the last id of the
// previous page. No OFFSET, so concurrent inserts never shift a page.
type UserFilter struct {
	// Query matches a substring of the email, username, first or last name, case-insensitively.
	Query string
	// Directory restricts the listing to what any signed-in user may see: Query
	// searches only the public fields, and only active accounts are listed.
	Directory bool
	Role      string
	// Status is pending, active (and not locked), disabled or locked; "" is any.
	Status string
	// Verified, when set, keeps the users whose email is (or is not) verified.
	Verified *bool
	Now      time.Time // decides what "locked" means
	After    uuid.UUID
	Limit    int
	// Window bounds a search that no index serves (see ListUsersPage) to this
	// many users after After; 0 is SearchWindow.
	Window int
}

// SearchWindow is how many users one page of a search scans where no index
// serves the search: on SQLite, and on PostgreSQL for a query without three
// letters or digits in a row (no trigram to look up). 10-25 ms a page on the
// 2-core machine this is built on, on either database.
const SearchWindow = 10000

// UserPage is a page of users with their grants, in id order.
type UserPage struct {
	Users []*Account
	// Next is After for the following page: the last user's id when the page
	// is full, the end of the scanned window when a bounded search stopped
	// there (the page may then be short, even empty), uuid.Nil when no later
	// user can match.
	Next uuid.UUID
}

// ListUsersPage returns at most f.Limit accounts with their grants, in id
// order, in a fixed number of queries whatever the size of the table or of
// the page: the ids by the primary key, a search by the trigram indexes on
// PostgreSQL (migration 00006). A search that no index serves scans at most
// f.Window users after f.After; when that window holds fewer than f.Limit
// matches the page is short and Next resumes after the window.
func (s *Store) ListUsersPage(ctx context.Context, f UserFilter) (*UserPage, error) {
	users, next, err := s.listUserRows(ctx, f)
	if err != nil {
		return nil, err
	}
	accts, err := s.withGrantsOf(ctx, users)
	if err != nil {
		return nil, err
	}
	return &UserPage{Users: accts, Next: next}, nil
}

// ListUsers returns at most f.Limit accounts with their grants, in id order:
// every match up to the limit, going on through bounded windows (see
// ListUsersPage) until the page is full or the table ends. For the command
// line; the API serves ListUsersPage, whose cost is bounded.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]*Account, error) {
	var users []models.User
	for limit := f.Limit; len(users) < limit; {
		page, next, err := s.listUserRows(ctx, f)
		if err != nil {
			return nil, err
		}
		users = append(users, page...)
		if next == uuid.Nil {
			break
		}
		f.After, f.Limit = next, limit-len(users)
	}
	return s.withGrantsOf(ctx, users)
}

// listUserRows selects the users of one page and says where the next begins.
func (s *Store) listUserRows(ctx context.Context, f UserFilter) ([]models.User, uuid.UUID, error) {
	var windowEnd uuid.UUID
	if f.Query != "" && s.boundedSearch(f.Query) {
		var ends []uuid.UUID
		if err := s.windowQuery(ctx, f).Find(&ends).Error; err != nil {
			return nil, uuid.Nil, err
		}
		if len(ends) > 0 { // else the window reaches the end of the table
			windowEnd = ends[0]
		}
	}
	var users []models.User
	if err := s.usersQuery(ctx, f, windowEnd).Find(&users).Error; err != nil {
		return nil, uuid.Nil, err
	}
	if f.Limit > 0 && len(users) == f.Limit {
		return users, users[len(users)-1].ID, nil
	}
	return users, windowEnd, nil // Nil unless a window ended before the table did
}

// boundedSearch reports whether a search for q scans a window of users rather
// than reading an index: always on SQLite (LIKE '%…%' has no index there), and
// on PostgreSQL when q holds no trigram to look up.
func (s *Store) boundedSearch(q string) bool {
	return s.dialect != Postgres || !hasTrigram(q)
}

// hasTrigram reports whether q has three letters or digits in a row: pg_trgm
// takes the trigrams of a LIKE pattern from its words, so "ab" or "a.b" give
// it none and its index would have to be read whole.
func hasTrigram(q string) bool {
	run := 0
	for _, r := range q {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if run++; run == 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// windowQuery selects the id of the f.Window-th user after f.After, the last
// one a bounded search looks at, from the primary key alone; none when fewer
// remain.
func (s *Store) windowQuery(ctx context.Context, f UserFilter) *gorm.DB {
	n := f.Window
	if n <= 0 {
		n = SearchWindow
	}
	q := s.conn(ctx).Model(&models.User{}).Select("users.id")
	if f.After != uuid.Nil {
		q = q.Where("users.id > ?", f.After)
	}
	return q.Order("users.id").Offset(n - 1).Limit(1)
}

// usersQuery selects the users f asks for, in id order, at most f.Limit, and
// none past windowEnd unless it is uuid.Nil.
func (s *Store) usersQuery(ctx context.Context, f UserFilter, windowEnd uuid.UUID) *gorm.DB {
	q := s.conn(ctx).Model(&models.User{})
	if f.After != uuid.Nil {
		q = q.Where("users.id > ?", f.After)
	}
	if windowEnd != uuid.Nil {
		q = q.Where("users.id <= ?", windowEnd)
	}
	if f.Query != "" {
		// Identifiers by their keys, folded in Go like the pattern; names with
		// lower() on both sides (the dialect's folding, the same on each side).
		// Each condition is an expression PostgreSQL has a trigram index on.
		folded := "%" + escapeLike(FoldKey(f.Query)) + "%"
		pattern := "%" + escapeLike(f.Query) + "%"
		conds := []string{`users.username_key LIKE ? ESCAPE '\'`, `lower(users.first_name) LIKE lower(?) ESCAPE '\'`, `lower(users.last_name) LIKE lower(?) ESCAPE '\'`}
		args := []any{folded, pattern, pattern}
		if !f.Directory {
			conds, args = append(conds, `users.email_key LIKE ? ESCAPE '\'`), append(args, folded)
		}
		q = q.Where("("+strings.Join(conds, " OR ")+")", args...)
	}
	if f.Role != "" {
		q = q.Where("EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = users.id AND ur.role_name = ?)", f.Role)
	}
	q = statusFilter(q, f.Status, f.Now)
	if f.Verified != nil {
		if *f.Verified {
			q = q.Where("users.email_verified_at IS NOT NULL")
		} else {
			q = q.Where("users.email_verified_at IS NULL")
		}
	}
	if f.Directory {
		q = q.Where("users.status = ?", models.StatusActive)
	}
	return q.Order("users.id").Limit(f.Limit)
}

func statusFilter(q *gorm.DB, status string, now time.Time) *gorm.DB {
	switch status {
	case models.StatusPending, models.StatusDisabled:
		return q.Where("users.status = ?", status)
	case models.StatusActive:
		return q.Where("users.status = ? AND (users.locked_until IS NULL OR users.locked_until <= ?)", models.StatusActive, utc(now))
	case models.StatusLocked:
		return q.Where("users.status = ? AND users.locked_until > ?", models.StatusActive, utc(now))
	}
	return q
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// withGrantsOf loads the roles, permissions and resources of many users in
// three queries, not three per user.
func (s *Store) withGrantsOf(ctx context.Context, users []models.User) ([]*Account, error) {
	out := make([]*Account, len(users))
	if len(users) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(users))
	byID := make(map[uuid.UUID]*Account, len(users))
	for i, u := range users {
		ids[i] = u.ID
		out[i] = &Account{User: u, Roles: []string{}, Permissions: []string{}, Resources: []string{}}
		byID[u.ID] = out[i]
	}
	var roles []models.UserRole
	if err := s.conn(ctx).Where("user_id IN ?", ids).Order("role_name").Find(&roles).Error; err != nil {
		return nil, err
	}
	for _, r := range roles {
		byID[r.UserID].Roles = append(byID[r.UserID].Roles, r.RoleName)
	}
	var perms []struct {
		UserID     uuid.UUID
		Permission string
	}
	if err := s.conn(ctx).Raw(`SELECT DISTINCT ur.user_id, rp.permission FROM user_roles ur
		JOIN role_permissions rp ON rp.role_name = ur.role_name
		WHERE ur.user_id IN ? ORDER BY rp.permission`, ids).Scan(&perms).Error; err != nil {
		return nil, err
	}
	for _, p := range perms {
		byID[p.UserID].Permissions = append(byID[p.UserID].Permissions, p.Permission)
	}
	var res []models.UserResource
	if err := s.conn(ctx).Where("user_id IN ?", ids).Order("resource").Find(&res).Error; err != nil {
		return nil, err
	}
	for _, r := range res {
		byID[r.UserID].Resources = append(byID[r.UserID].Resources, r.Resource)
	}
	return out, nil
}

// LockUser loads an account and, on PostgreSQL, locks its row for the
// transaction, so concurrent administrative changes of one user queue.
func (s *Store) LockUser(ctx context.Context, id uuid.UUID) (*Account, error) {
	var u models.User
	if err := s.forUpdate(s.conn(ctx)).Take(&u, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	return s.withGrants(ctx, u)
}

// DeleteAllUsers removes every user; their sessions, tokens, roles and grants go
// by cascade. Revoke the sessions first so the revocation feed lists them.
func (s *Store) DeleteAllUsers(ctx context.Context) (int64, error) {
	res := s.conn(ctx).Exec("DELETE FROM users")
	if res.Error != nil {
		return 0, res.Error
	}
	return res.RowsAffected, s.changed(ctx, Change{All: true})
}

// RoleInfo is a role with its permissions (sorted, never nil).
type RoleInfo struct {
	models.Role
	Permissions []string
}

// Roles lists every role by name.
func (s *Store) Roles(ctx context.Context) ([]RoleInfo, error) {
	var roles []models.Role
	if err := s.conn(ctx).Order("name").Find(&roles).Error; err != nil {
		return nil, err
	}
	var rps []models.RolePermission
	if err := s.conn(ctx).Order("role_name, permission").Find(&rps).Error; err != nil {
		return nil, err
	}
	perms := map[string][]string{}
	for _, rp := range rps {
		perms[rp.RoleName] = append(perms[rp.RoleName], rp.Permission)
	}
	out := make([]RoleInfo, len(roles))
	for i, r := range roles {
		out[i] = RoleInfo{Role: r, Permissions: orEmpty(perms[r.Name])}
	}
	return out, nil
}

// LockRole loads a role with its permissions and, on PostgreSQL, locks its row
// for the transaction; ErrNotFound when there is none.
func (s *Store) LockRole(ctx context.Context, name string) (*RoleInfo, error) {
	var r models.Role
	if err := s.forUpdate(s.conn(ctx)).Take(&r, "name = ?", name).Error; err != nil {
		return nil, translate(err)
	}
	perms, err := s.rolePermissions(ctx, name)
	if err != nil {
		return nil, err
	}
	return &RoleInfo{Role: r, Permissions: perms}, nil
}

func (s *Store) rolePermissions(ctx context.Context, name string) ([]string, error) {
	perms := []string{}
	err := s.conn(ctx).Model(&models.RolePermission{}).Where("role_name = ?", name).
		Order("permission").Pluck("permission", &perms).Error
	return perms, err
}

// PermissionsOf is the union of the permissions of the named roles.
func (s *Store) PermissionsOf(ctx context.Context, roles []string) ([]string, error) {
	perms := []string{}
	if len(roles) == 0 {
		return perms, nil
	}
	err := s.conn(ctx).Model(&models.RolePermission{}).Distinct("permission").
		Where("role_name IN ?", roles).Order("permission").Pluck("permission", &perms).Error
	return perms, err
}

// UnknownRoles returns the names that are not roles, in the order given. On
// PostgreSQL the known ones are share-locked for the transaction, so a role
// cannot be deleted between this check and its assignment.
func (s *Store) UnknownRoles(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	q := s.conn(ctx).Model(&models.Role{}).Where("name IN ?", names)
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var known []string
	if err := q.Pluck("name", &known).Error; err != nil {
		return nil, err
	}
	var unknown []string
	for _, n := range names {
		if !slices.Contains(known, n) {
			unknown = append(unknown, n)
		}
	}
	return unknown, nil
}

// CreateRole inserts a role with its permissions; a taken name gives a
// *ConflictError for "name".
func (s *Store) CreateRole(ctx context.Context, r *models.Role, permissions []string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := translate(tx.conn(ctx).Create(r).Error); err != nil {
			return err
		}
		return tx.setRolePermissions(ctx, r.Name, permissions)
	})
}

// UpdateRole changes a role's description (when not nil) and permissions (when
// not nil), and its updated_at.
func (s *Store) UpdateRole(ctx context.Context, name string, now time.Time, description *string, permissions []string) error {
	fields := map[string]any{"updated_at": now}
	if description != nil {
		fields["description"] = *description
	}
	res := s.conn(ctx).Model(&models.Role{}).Where("name = ?", name).Updates(fields)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	if permissions == nil {
		return nil
	}
	if err := s.changed(ctx, Change{AllUsers: true}); err != nil { // every holder's permissions
		return err
	}
	return s.setRolePermissions(ctx, name, permissions)
}

func (s *Store) setRolePermissions(ctx context.Context, name string, permissions []string) error {
	if err := s.conn(ctx).Where("role_name = ?", name).Delete(&models.RolePermission{}).Error; err != nil {
		return err
	}
	for _, p := range models.SortedSet(permissions) {
		if err := s.conn(ctx).Create(&models.RolePermission{RoleName: name, Permission: p}).Error; err != nil {
			return translate(err)
		}
	}
	return nil
}

// DeleteRole removes a role; its holders lose it by cascade.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	res := s.conn(ctx).Delete(&models.Role{}, "name = ?", name)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return s.changed(ctx, Change{AllUsers: true}) // every holder lost it
}

// RoleHolders lists the ids of the users holding the role.
func (s *Store) RoleHolders(ctx context.Context, name string) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.conn(ctx).Model(&models.UserRole{}).Where("role_name = ?", name).
		Order("user_id").Pluck("user_id", &ids).Error
	return ids, err
}

// AuditFilter selects a page of audit events for ListAudit, newest first.
// Before is the last id of the previous page (ids are UUIDv7, so time-ordered).
type AuditFilter struct {
	UserID uuid.UUID
	Type   string
	Before uuid.UUID
	Limit  int
}

// ListAudit returns at most f.Limit events, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]models.AuditEvent, error) {
	q := s.conn(ctx).Model(&models.AuditEvent{})
	if f.UserID != uuid.Nil {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.Before != uuid.Nil {
		q = q.Where("id < ?", f.Before)
	}
	var out []models.AuditEvent
	err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error
	return out, err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	sort.Strings(s)
	return s
}
