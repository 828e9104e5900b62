package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/internal/testdb"
	"github.com/authsvc/authsvc/store"
)

// The hot-path benchmarks send requests through the real router, middleware
// chain and error handler (apitest), on SQLite and, when testdb reaches it, on
// PostgreSQL (skipped in -short). Every service is built inside a benchmark,
// so plain `go test` pays nothing for them. The log level is the tests'
// (error), so the access-log line a production request writes is not included.

// benchVars turns off the introspection limit (6000/m by default): a benchmark
// calls it far more often from one client.
var benchVars = apitest.Vars{"INTROSPECTION_RATE_LIMIT": "0"}

// benchEach runs fn once per database, as sub-benchmarks "db=<dialect>", each on
// a fresh service.
func benchEach(b *testing.B, fn func(b *testing.B, e *apitest.Env)) {
	for _, d := range testdb.Dialects {
		b.Run("db="+d, func(b *testing.B) {
			if d == store.Postgres && testing.Short() {
				b.Skip("PostgreSQL benchmarks are skipped in -short")
			}
			fn(b, apitest.New(b, d, benchVars))
		})
	}
}

// serve sends req through the service's router without apitest's bookkeeping
// (it is safe to call from RunParallel's goroutines).
func serve(e *apitest.Env, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.App.Server.ServeHTTP(rec, req)
	return rec
}

func benchGet(path, bearer string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req
}

func benchPost(path, body string, headers ...string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func benchExpect(b *testing.B, rec *httptest.ResponseRecorder, want int) {
	b.Helper()
	if rec.Code != want {
		b.Fatalf("status %d, want %d; body: %s", rec.Code, want, rec.Body)
	}
}

// BenchmarkGetMe is GET /v1/me with a valid token from parallel clients: token
// verification, the session lookup and the user's record, through the chain.
func BenchmarkGetMe(b *testing.B) {
	benchEach(b, func(b *testing.B, e *apitest.Env) {
		tok := e.SignupLogin("benchme").AccessToken
		benchExpect(b, serve(e, benchGet("/v1/me", tok)), http.StatusOK)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if rec := serve(e, benchGet("/v1/me", tok)); rec.Code != http.StatusOK {
					b.Errorf("status %d; body: %s", rec.Code, rec.Body)
					return
				}
			}
		})
	})
}

// BenchmarkGetSession is GET /v1/auth/session with a valid token.
func BenchmarkGetSession(b *testing.B) {
	benchEach(b, func(b *testing.B, e *apitest.Env) {
		tok := e.SignupLogin("benchsession").AccessToken
		benchExpect(b, serve(e, benchGet("/v1/auth/session", tok)), http.StatusOK)
		b.ReportAllocs()
		for b.Loop() {
			benchExpect(b, serve(e, benchGet("/v1/auth/session", tok)), http.StatusOK)
		}
	})
}

// BenchmarkHealthz is GET /healthz: the global middleware and nothing else.
func BenchmarkHealthz(b *testing.B) {
	benchEach(b, func(b *testing.B, e *apitest.Env) {
		b.ReportAllocs()
		for b.Loop() {
			benchExpect(b, serve(e, benchGet("/healthz", "")), http.StatusOK)
		}
	})
}

// BenchmarkRefresh is POST /v1/auth/refresh, each refresh token used once: every
// iteration rotates the token the previous one returned, as a client does.
func BenchmarkRefresh(b *testing.B) {
	benchEach(b, func(b *testing.B, e *apitest.Env) {
		rt := e.SignupLogin("benchrefresh").RefreshToken
		b.ReportAllocs()
		for b.Loop() {
			rec := serve(e, benchPost("/v1/auth/refresh", `{"refresh_token":"`+rt+`"}`))
			benchExpect(b, rec, http.StatusOK)
			var out struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.RefreshToken == "" || out.RefreshToken == rt {
				b.Fatalf("refresh answer %s: %v", rec.Body, err)
			}
			rt = out.RefreshToken
		}
	})
}

// BenchmarkIntrospect is POST /v1/auth/introspect of a live access token by the
// configured gateway client (HTTP Basic), with the rate limit off.
func BenchmarkIntrospect(b *testing.B) {
	benchEach(b, func(b *testing.B, e *apitest.Env) {
		tok := e.SignupLogin("benchintrospect").AccessToken
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(apitest.GatewayClient+":"+apitest.GatewaySecret))
		body := `{"token":"` + tok + `"}`
		rec := serve(e, benchPost("/v1/auth/introspect", body, "Authorization", basic))
		benchExpect(b, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"active":true`) {
			b.Fatalf("introspection: %s", rec.Body)
		}
		b.ReportAllocs()
		for b.Loop() {
			benchExpect(b, serve(e, benchPost("/v1/auth/introspect", body, "Authorization", basic)), http.StatusOK)
		}
	})
}
