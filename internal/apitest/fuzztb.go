package apitest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// FuzzTB is the testing.TB a fuzzed service is built with: the fuzz target's
// f itself, except that the service's log goes to a buffer. Inside the fuzz
// function F's Log and Helper panic ("use t instead"), and the service also
// logs from its own goroutines; a failing input prints the log of its request.
type FuzzTB struct {
	testing.TB
	mu  sync.Mutex
	log bytes.Buffer
}

// NewFuzzTB wraps f.
func NewFuzzTB(f testing.TB) *FuzzTB { return &FuzzTB{TB: f} }

func (tb *FuzzTB) Helper() {}

func (tb *FuzzTB) Log(args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.log.Len() > 1<<20 {
		tb.log.Reset()
	}
	fmt.Fprintln(&tb.log, args...)
}

func (tb *FuzzTB) Logf(format string, args ...any) { tb.Log(fmt.Sprintf(format, args...)) }

// TakeLog returns what was logged since the last call.
func (tb *FuzzTB) TakeLog() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	s := tb.log.String()
	tb.log.Reset()
	return s
}
