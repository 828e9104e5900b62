package token_test

import (
	"testing"
	"time"

	"github.com/authsvc/authsvc/token"
)

// BenchmarkVerify, its counterpart, is in token_test.go. BenchmarkIssue uses
// time.Now, not the test clock, so it measures what production pays. Keys are
// generated inside each sub-benchmark, so nothing runs unless -bench selects it.

// BenchmarkIssue signs one access token per iteration with each algorithm.
func BenchmarkIssue(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			ks := singleKeySet(b, newKey(b, alg))
			iss := token.NewIssuer(fixed(ks), cfg, time.Now)
			s := subject()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := iss.Issue(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
