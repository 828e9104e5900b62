//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDatabase takes the advisory lock of a SQLite database: <database>.lock,
// locked with flock. A service, or a command with the database open, holds it
// shared (several may run on one database); restore takes it exclusively. It
// does not wait: a lock held the other way is an error naming who holds it. The lock goes with the
// process, however it ends; the file stays (removing it would race).
func lockDatabase(dbPath string, exclusive bool) (release func(), err error) {
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if exclusive {
			return nil, fmt.Errorf("refused: authsvc holds the database %s (a service or a command; its lock %s is taken): stop every authsvc using it first", dbPath, path)
		}
		return nil, fmt.Errorf("a restore of the database %s is in progress (its lock %s is taken): start again once it is done", dbPath, path)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
