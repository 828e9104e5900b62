package handlers_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"

	"github.com/authsvc/authsvc/internal/apitest"
)

func TestImportUsers(t *testing.T) {
	const oldPW = "old-Password-from-elsewhere-1"
	b, err := bcrypt.GenerateFromPassword([]byte(oldPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("0123456789abcdef")
	phc := fmt.Sprintf("$pbkdf2-sha256$1000$%s$%s",
		strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(salt), "+", "."),
		strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(pbkdf2.Key([]byte(oldPW), salt, 1000, 32, sha256.New)), "+", "."))
	apitest.Each(t, nil, func(t *testing.T, e *apitest.Env) {
		admin := e.AdminLogin().AccessToken
		e.Signup("taken")
		users := []map[string]any{
			{"email": "bc@example.com", "username": "bcr", "password_hash": string(b), "email_verified": true, "first_name": "B"},
			{"email": "pb@example.com", "username": "pbk", "password_hash": phc, "email_verified": true, "created_at": "2020-01-02T03:04:05Z", "roles": []string{"user"}},
			{"email": "taken@example.com", "username": "other"},                                           // 2: email exists: skipped
			{"email": "new@example.com", "username": "TAKEN"},                                             // 3: username exists: skipped
			{"email": "bad-address", "username": "bad"},                                                   // 4
			{"email": "hash@example.com", "username": "hash", "password_hash": "$2a$31$" + string(b[7:])}, // 5: cost too high
			{"email": "role@example.com", "username": "role", "roles": []string{"no-such-role"}},          // 6
			{"email": "st@example.com", "username": "status", "status": "locked"},                         // 7
			{"email": "ca@example.com", "username": "created", "created_at": "yesterday"},                 // 8
			{"email": "bc@example.com", "username": "again"},                                              // 9: same email as 0: skipped
		}
		r := e.As(admin, "POST", "/v1/users/import", map[string]any{"users": users}).Expect(http.StatusOK)
		var res struct {
			Created, Skipped int
			Errors           []struct {
				Index          int
				Email, Message string
			}
		}
		r.Decode(&res)
		if res.Created != 2 || res.Skipped != 3 || len(res.Errors) != 5 {
			t.Fatalf("result = %+v; want 2 created, 3 skipped, 5 errors", res)
		}
		for i, want := range []int{4, 5, 6, 7, 8} {
			if res.Errors[i].Index != want || res.Errors[i].Email != users[want]["email"] || res.Errors[i].Message == "" {
				t.Errorf("errors[%d] = %+v; want index %d", i, res.Errors[i], want)
			}
		}
		if strings.Contains(string(r.Body), string(b[7:])) {
			t.Error("the answer echoes a hash")
		}
		for _, login := range []string{"bcr", "pb@example.com"} {
			e.Request("POST", "/v1/auth/login", map[string]any{"login": login, "password": "wrong-Password-1"}).Expect(http.StatusUnauthorized)
			e.Login(login, oldPW)
			u, err := e.App.Store.UserByLogin(t.Context(), login)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
				t.Errorf("%s: hash after login is not argon2id", login)
			}
			e.Login(login, oldPW) // still works with the new hash
		}
		// The user already there was not changed.
		e.Login("taken", apitest.StrongPassword)

		// Importing again skips everyone.
		e.As(admin, "POST", "/v1/users/import", map[string]any{"users": users[:2]}).Expect(http.StatusOK).Decode(&res)
		if res.Created != 0 || res.Skipped != 2 {
			t.Errorf("second import = %+v", res)
		}
		plain := e.SignupLogin("plain").AccessToken
		e.As(plain, "POST", "/v1/users/import", map[string]any{"users": users[:1]}).Expect(http.StatusForbidden)
		many := make([]map[string]any, 1001)
		for i := range many {
			many[i] = map[string]any{"email": fmt.Sprintf("m%d@example.com", i), "username": fmt.Sprintf("m%d", i)}
		}
		e.As(admin, "POST", "/v1/users/import", map[string]any{"users": many}).Expect(http.StatusBadRequest)
		e.As(admin, "POST", "/v1/users/import", map[string]any{"users": []any{}}).Expect(http.StatusBadRequest)
	})
}
