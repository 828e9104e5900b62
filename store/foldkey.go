package store

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/models"
)

// FoldKey is how usernames compare: case-insensitively, folded in Go so that
// both databases agree beyond ASCII (SQLite's lower() does not). A character
// outside ASCII never folds into an ASCII one (unicode.ToLower maps the Kelvin
// sign to k and İ to i): no identifier takes the slot of an ASCII one.
func FoldKey(s string) string {
	return strings.Map(func(r rune) rune {
		if l := unicode.ToLower(r); r < utf8.RuneSelf || l >= utf8.RuneSelf {
			return l
		}
		return r
	}, s)
}

// EmailKey is how emails compare: in their ASCII form (mailaddr), folded.
func EmailKey(email string) string { return FoldKey(mailaddr.ASCII(email)) }

// refoldKeys gives rows with a non-ASCII email or username the keys EmailKey
// and FoldKey give now (Migrate, after an upgrade): the SQL migration folded with lower() (SQLite's leaves
// non-ASCII letters alone), and keys written before emails compared in ASCII
// folded the Kelvin sign into k ("\u212Aate@" held the slot of "kate@") and
// kept Unicode domains. A row whose true key another row already holds keeps
// its old key (the two stay distinct, as they were).
func (s *Store) refoldKeys(ctx context.Context) error {
	nonASCII := "email GLOB '*[^ -~]*' OR username GLOB '*[^ -~]*'"
	if s.dialect == Postgres {
		nonASCII = "email ~ '[^ -~]' OR username ~ '[^ -~]'"
	}
	var rows []models.User
	err := s.conn(ctx).Select("id", "email", "username", "email_key", "username_key").
		Where(nonASCII).Find(&rows).Error
	if err != nil {
		return err
	}
	for _, u := range rows {
		if u.EmailKey == EmailKey(u.Email) && u.UsernameKey == FoldKey(u.Username) {
			continue
		}
		err := s.conn(ctx).Model(&models.User{}).Where("id = ?", u.ID).
			UpdateColumns(map[string]any{"email_key": EmailKey(u.Email), "username_key": FoldKey(u.Username)}).Error
		if err := translate(err); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}
