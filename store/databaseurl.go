package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Dialect reports the dialect a DATABASE_URL names, or an error for anything else.
func Dialect(databaseURL string) (string, error) {
	dialect, _, err := parseURL(databaseURL)
	return dialect, err
}

// SQLitePath is the file a sqlite:// URL names ("sqlite://authsvc.db" → "authsvc.db",
// "sqlite:///var/lib/a.db" → "/var/lib/a.db"), or "" for any other URL.
func SQLitePath(databaseURL string) string {
	_, path, _ := parseURL(databaseURL)
	return path
}

// parseURL is the one reader of DATABASE_URL: its dialect and, for SQLite, the
// file's path. Errors never quote the URL, which may hold a password.
func parseURL(databaseURL string) (dialect, sqlitePath string, err error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// Not url.Parse's message: it quotes the part it choked on, which may be
		// the password.
		return "", "", errors.New("cannot be parsed as a URL (use sqlite://PATH or postgres://…; percent-encode / ? # @ : % in the password)")
	}
	switch u.Scheme {
	case "sqlite":
		// The path is the text after sqlite://, so relative paths work
		// (url.Parse would read their first segment as a host).
		path, _, _ := strings.Cut(strings.TrimPrefix(databaseURL, "sqlite://"), "?")
		if path == "" {
			return "", "", errors.New("sqlite:// needs a file path, e.g. sqlite://authsvc.db")
		}
		return SQLite, path, nil
	case "postgres", "postgresql":
		if u.Host == "" {
			return "", "", errors.New("postgres:// needs a host")
		}
		return Postgres, "", nil
	}
	return "", "", fmt.Errorf("scheme %q is not supported (use sqlite://PATH or postgres://…)", u.Scheme)
}

// scrub removes a password that a driver may have echoed from the URL.
func scrub(err error, databaseURL string) error {
	u, perr := url.Parse(databaseURL)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "***"))
	}
	return err
}
