package store

import (
	"context"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/models"
)

// SearchWindow is how many users one page of a search scans where no index
// serves the search: on SQLite, and on PostgreSQL for a query without three
// letters or digits in a row (no trigram to look up). 10-25 ms a page on the
// 2-core machine this is built on, on either database.
const SearchWindow = 10000

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

// matchQuery keeps the users whose email, username, first or last name holds
// query, case-insensitively (only the public fields for the directory).
// Identifiers by their keys, folded in Go like the pattern; names with
// lower() on both sides (the dialect's folding, the same on each side). Each
// condition is an expression PostgreSQL has a trigram index on.
func matchQuery(q *gorm.DB, query string, directory bool) *gorm.DB {
	folded := "%" + escapeLike(FoldKey(query)) + "%"
	pattern := "%" + escapeLike(query) + "%"
	conds := []string{`users.username_key LIKE ? ESCAPE '\'`, `lower(users.first_name) LIKE lower(?) ESCAPE '\'`, `lower(users.last_name) LIKE lower(?) ESCAPE '\'`}
	args := []any{folded, pattern, pattern}
	if !directory {
		conds, args = append(conds, `users.email_key LIKE ? ESCAPE '\'`), append(args, folded)
	}
	return q.Where("("+strings.Join(conds, " OR ")+")", args...)
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
