// Package faults makes a test server misbehave on demand, as a remote
// service does: down, slow, or answering garbage.
package faults

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Faults are what a server is told to do wrong; the zero value does nothing
// wrong. Embed it to give a fake its SetDown, SetSlow and SetGarbage.
type Faults struct {
	down, garbage atomic.Bool
	slow          atomic.Int64 // time.Duration
}

// SetDown makes every request answer 503 while down.
func (f *Faults) SetDown(down bool) { f.down.Store(down) }

// SetSlow delays every request by d (0: none). The wait ends early if the
// client gives up, so a timed-out test does not hold the server open.
func (f *Faults) SetSlow(d time.Duration) { f.slow.Store(int64(d)) }

// SetGarbage makes the paths Wrap was told of answer 200 with a body that
// claims to be JSON and is not.
func (f *Faults) SetGarbage(on bool) { f.garbage.Store(on) }

// Wrap serves next, unless a fault applies; garbage says which paths the
// garbage fault concerns (an API, not a login page).
func (f *Faults) Wrap(next http.Handler, garbage func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(f.slow.Load()); d > 0 {
			// Read the body first: net/http notices a client that gave up (and
			// cancels r.Context) only once the request body has been consumed.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if f.down.Load() {
			http.Error(w, "down for a test", http.StatusServiceUnavailable)
			return
		}
		if f.garbage.Load() && garbage(r.URL.Path) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte("<html>502 upstream garbage {\"not\": json"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
