package password_test

import (
	"testing"

	"github.com/authsvc/authsvc/password"
)

// benchCosts are the production default (OWASP: m=19 MiB, t=2, p=1) and the
// cost the tests configure (internal/apitest: m=1 MiB, t=1).
var benchCosts = []struct {
	name   string
	params password.Params
}{
	{"cost=default", password.DefaultParams()},
	{"cost=test", password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
}

const benchPassword = "violet-Harbor-tunnel-58!"

func benchHasher(b *testing.B, p password.Params) *password.Hasher {
	b.Helper()
	h, err := password.NewHasher(p)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkHashCost hashes one password per iteration (signup, password
// change, rehash on login) at both costs; B/op is dominated by Argon2id's
// memory parameter. (BenchmarkHash in hash_test.go is the default cost alone.)
func BenchmarkHashCost(b *testing.B) {
	for _, c := range benchCosts {
		b.Run(c.name, func(b *testing.B) {
			h := benchHasher(b, c.params)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Hash(benchPassword); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify checks one correct password per iteration (every login).
func BenchmarkVerify(b *testing.B) {
	for _, c := range benchCosts {
		b.Run(c.name, func(b *testing.B) {
			h := benchHasher(b, c.params)
			encoded, err := h.Hash(benchPassword)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				ok, _, err := h.Verify(encoded, benchPassword)
				if err != nil || !ok {
					b.Fatalf("Verify = %v, %v", ok, err)
				}
			}
		})
	}
}
