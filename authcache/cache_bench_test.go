package authcache_test

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/authsvc/authsvc/authcache"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// benchEntries is how many tokens, sessions and accounts the cache holds
// before a benchmark starts, so lookups run against maps of a realistic size.
const benchEntries = 10_000

// benchID is a distinct, deterministic uuid per n (no crypto/rand in the loop).
func benchID(n uint64) uuid.UUID {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[8:], n)
	id[0] = 1
	return id
}

// benchTokenBody makes benchToken as long as a real access token (ES256 with a
// few roles: about 600 bytes), since the cache hashes the whole string.
var benchTokenBody = strings.Repeat("x", 560)

func benchToken(n uint64) string {
	return "eyJhbGciOiJFUzI1NiJ9." + benchTokenBody + strconv.FormatUint(n, 10) + ".signature"
}

func benchClaims() *token.Claims {
	return &token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}}
}

func benchAccount(id uuid.UUID) *store.Account {
	a := &store.Account{Roles: []string{"user"}}
	a.ID = id
	return a
}

// filledCache holds benchEntries tokens, sessions and accounts, keyed by
// benchToken(n) and benchID(n) for n < benchEntries.
func filledCache(b *testing.B) *authcache.Cache {
	b.Helper()
	c := authcache.New(time.Now, authcache.ListeningMaxAge)
	claims := benchClaims()
	for n := range uint64(benchEntries) {
		c.PutToken(benchToken(n), claims)
		c.PutSession(c.Generation(), models.Session{ID: benchID(n)})
		c.PutAccount(c.Generation(), benchAccount(benchID(n)))
	}
	return c
}

// BenchmarkCacheHit is one lookup that the cache answers, for each kind of
// entry the hot path asks for on every authenticated request.
func BenchmarkCacheHit(b *testing.B) {
	b.Run("token", func(b *testing.B) {
		c := filledCache(b)
		raw := benchToken(benchEntries / 2)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Token(raw); !ok {
				b.Fatal("token missed")
			}
		}
	})
	b.Run("session", func(b *testing.B) {
		c := filledCache(b)
		id := benchID(benchEntries / 2)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Session(id); !ok {
				b.Fatal("session missed")
			}
		}
	})
	b.Run("account", func(b *testing.B) {
		c := filledCache(b)
		id := benchID(benchEntries / 2)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Account(id); !ok {
				b.Fatal("account missed")
			}
		}
	})
	b.Run("token/parallel", func(b *testing.B) {
		c := filledCache(b)
		raw := benchToken(benchEntries / 2)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok := c.Token(raw); !ok {
					b.Error("token missed")
					return
				}
			}
		})
	})
}

// BenchmarkCacheMiss is what the cache itself costs on a miss: the lookup that
// finds nothing and the Put of what the database (not measured) returned. Every
// iteration uses a new key; the maps start over when full, as in production.
func BenchmarkCacheMiss(b *testing.B) {
	b.Run("token", func(b *testing.B) {
		c := filledCache(b)
		claims := benchClaims()
		n := uint64(benchEntries)
		b.ReportAllocs()
		for b.Loop() {
			raw := benchToken(n)
			n++
			if _, ok := c.Token(raw); ok {
				b.Fatal("token hit")
			}
			c.PutToken(raw, claims)
		}
	})
	b.Run("session", func(b *testing.B) {
		c := filledCache(b)
		n := uint64(benchEntries)
		b.ReportAllocs()
		for b.Loop() {
			id := benchID(n)
			n++
			gen := c.Generation()
			if _, ok := c.Session(id); ok {
				b.Fatal("session hit")
			}
			c.PutSession(gen, models.Session{ID: id})
		}
	})
	b.Run("account", func(b *testing.B) {
		c := filledCache(b)
		n := uint64(benchEntries)
		b.ReportAllocs()
		for b.Loop() {
			id := benchID(n)
			n++
			gen := c.Generation()
			if _, ok := c.Account(id); ok {
				b.Fatal("account hit")
			}
			c.PutAccount(gen, benchAccount(id))
		}
	})
}
