package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/authsvc/authsvc/accounts"
	"github.com/authsvc/authsvc/models"
)

// importChunk is how many lines users import hands the account service at a
// time (which inserts them accounts.ImportBatch per transaction).
const importChunk = 5000

// maxImportLine is the longest JSON line users import reads.
const maxImportLine = 1 << 20

type importLineError struct {
	Line    int    `json:"line"`
	Email   string `json:"email"`
	Message string `json:"message"`
}

type importSummary struct {
	Created int               `json:"created"`
	Skipped int               `json:"skipped"`
	Errors  []importLineError `json:"errors"`
}

// usersImport reads JSON Lines of accounts.ImportUser from FILE or stdin (-)
// and writes {"created","skipped","errors":[{"line","email","message"}]}. A
// malformed line is reported and the rest goes on; the exit status is 1 when
// any line failed.
func usersImport(ctx context.Context, args []string, env Env) error {
	fs := flags("users import", "users import FILE|-   (JSON Lines; - reads stdin)", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: users import FILE|- (one file; - for stdin)", errUsage)
	}
	in := env.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	_, accts, st, err := openAccounts(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	sum := importSummary{Errors: []importLineError{}}
	var chunk []accounts.ImportUser
	var lines []int // the line of each user in chunk
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		res, err := accts.Import(ctx, accounts.Operator(), chunk)
		sum.Created += res.Created
		sum.Skipped += res.Skipped
		for _, e := range res.Errors {
			sum.Errors = append(sum.Errors, importLineError{Line: lines[e.Index], Email: e.Email, Message: e.Message})
		}
		chunk, lines = chunk[:0], lines[:0]
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var u accounts.ImportUser
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&u); err != nil || dec.More() {
			msg := "not a JSON object of a user"
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			switch {
			case errors.As(err, &se), errors.As(err, &te):
				msg = "malformed JSON: " + err.Error()
			case err != nil && bytes.Contains([]byte(err.Error()), []byte("unknown field")):
				msg = err.Error()
			}
			sum.Errors = append(sum.Errors, importLineError{Line: n, Email: u.Email, Message: msg})
			continue
		}
		chunk, lines = append(chunk, u), append(lines, n)
		if len(chunk) == importChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than %d bytes", n+1, maxImportLine)
		}
		_ = flush()
		writeSummary(env.Stdout, sum)
		return fmt.Errorf("reading the import stopped: %w", err)
	}
	if err := flush(); err != nil {
		writeSummary(env.Stdout, sum)
		return err
	}
	writeSummary(env.Stdout, sum)
	if len(sum.Errors) > 0 {
		return fmt.Errorf("%d line(s) not imported (see errors)", len(sum.Errors))
	}
	return nil
}

func writeSummary(w io.Writer, sum importSummary) {
	slices.SortStableFunc(sum.Errors, func(a, b importLineError) int { return a.Line - b.Line })
	b, _ := json.Marshal(sum)
	fmt.Fprintf(w, "%s\n", b)
}

// usersExport writes every user as a JSON line in the form users import
// reads, with its (argon2id) password hash: for moving between authsvc
// databases.
func usersExport(ctx context.Context, args []string, env Env) error {
	fs := flags("users export", "users export   (JSON Lines on stdout, password hashes included)", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	_, _, st, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	w := bufio.NewWriter(env.Stdout)
	enc := json.NewEncoder(w)
	err = st.ExportUsers(ctx, func(u *models.User, roles []string) error {
		return enc.Encode(accounts.ImportUser{
			Email: u.Email, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
			Roles: roles, Status: u.Status, EmailVerified: u.EmailVerifiedAt != nil,
			CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339), PasswordHash: u.PasswordHash,
		})
	})
	if err != nil {
		return err
	}
	return w.Flush()
}
