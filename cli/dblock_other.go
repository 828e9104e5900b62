//go:build !unix

package cli

import "errors"

// lockDatabase: without flock, a service holds nothing, and restore cannot
// tell whether one runs, so it refuses.
func lockDatabase(dbPath string, exclusive bool) (release func(), err error) {
	if exclusive {
		return nil, errors.New("refused: this system cannot tell whether a service holds the database; stop it and copy the backup over the database by hand")
	}
	return func() {}, nil
}
