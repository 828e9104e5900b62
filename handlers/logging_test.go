package handlers_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
)

// TestLogsCarryNoSecrets runs the whole session life cycle at debug level and
// checks that no password or token reaches the log, and that every request is
// logged once with the request id its response carries.
func TestLogsCarryNoSecrets(t *testing.T) {
	testdb.EachDialect(t, func(t *testing.T, d string) {
		logs := &apitest.LogBuffer{}
		e := apitest.New(t, d, apitest.Vars{"LOG_LEVEL": "debug"}, apitest.LogTo(logs))
		const (
			pw      = "Quiet-lantern-orbit-73!"
			wrongPw = "Wrong-guess-4471-zebra!"
			weakPw  = "hunter2hunter2"
		)
		var requestIDs []string
		send := func(method, path string, body any, status int, headers ...string) *apitest.Response {
			t.Helper()
			r := e.Request(method, path, body, headers...).Expect(status)
			requestIDs = append(requestIDs, r.Header.Get("X-Request-Id"))
			return r
		}
		signup := map[string]any{"email": "lin@example.com", "username": "lin", "password": pw}
		send("POST", "/v1/auth/signup", map[string]any{"email": "weak@example.com", "username": "weak", "password": weakPw}, http.StatusBadRequest)
		send("POST", "/v1/auth/signup", signup, http.StatusCreated)
		send("POST", "/v1/auth/signup", signup, http.StatusConflict)
		send("POST", "/v1/auth/login", map[string]any{"login": "lin", "password": wrongPw}, http.StatusUnauthorized)
		send("POST", "/v1/auth/login", `{"login": "lin", "password": "`+pw+`"`, http.StatusBadRequest)
		send("POST", "/v1/auth/login", map[string]any{"login": "lin", "password": pw, "otp": pw}, http.StatusBadRequest)
		var first, second apitest.Tokens
		send("POST", "/v1/auth/login", map[string]any{"login": "lin", "password": pw}, http.StatusOK).Decode(&first)
		send("GET", "/v1/me", nil, http.StatusOK, apitest.Bearer(first.AccessToken)...)
		send("POST", "/v1/auth/refresh", map[string]any{"refresh_token": first.RefreshToken}, http.StatusOK).Decode(&second)
		send("POST", "/v1/auth/refresh", map[string]any{"refresh_token": first.RefreshToken}, http.StatusOK) // within the grace
		send("GET", "/v1/auth/session", nil, http.StatusOK, apitest.Bearer(second.AccessToken)...)
		send("POST", "/v1/auth/logout", nil, http.StatusOK, apitest.Bearer(second.AccessToken)...)
		send("POST", "/v1/auth/refresh", map[string]any{"refresh_token": second.RefreshToken}, http.StatusUnauthorized)
		send("GET", "/v1/me", nil, http.StatusUnauthorized, apitest.Bearer(second.AccessToken)...)
		if first.RefreshToken == "" || second.RefreshToken == "" || first.RefreshToken == second.RefreshToken {
			t.Fatalf("refresh did not rotate the token: %q → %q", first.RefreshToken, second.RefreshToken)
		}

		out := logs.String()
		secrets := map[string]string{
			"password": pw, "wrong password": wrongPw, "weak password": weakPw,
			"bootstrap admin password": apitest.AdminPassword,
			"first refresh token":      first.RefreshToken, "second refresh token": second.RefreshToken,
			"first access token": first.AccessToken, "second access token": second.AccessToken,
			"first access token's signature":  jwsSignature(first.AccessToken),
			"second access token's signature": jwsSignature(second.AccessToken),
		}
		for what, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("the log contains the %s", what)
			}
		}

		logged := accessLogLines(t, out)
		if len(logged) != len(requestIDs) {
			t.Fatalf("%d request lines logged for %d requests:\n%s", len(logged), len(requestIDs), out)
		}
		for i, id := range requestIDs {
			if id == "" {
				t.Fatalf("response %d carries no X-Request-Id", i)
			}
			if logged[id] != 1 {
				t.Errorf("request id %s of response %d is logged %d times", id, i, logged[id])
			}
		}
	})
}

// signature is the last segment of a compact JWS.
func jwsSignature(compact string) string {
	return compact[strings.LastIndexByte(compact, '.')+1:]
}

// accessLogLines counts the access-log lines by request id; a line without one fails.
func accessLogLines(t *testing.T, out string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line.Msg != "request" {
			continue
		}
		if line.RequestID == "" {
			t.Errorf("request line without request_id: %s", sc.Text())
		}
		ids[line.RequestID]++
	}
	return ids
}
