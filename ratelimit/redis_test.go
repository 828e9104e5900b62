package ratelimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/ratelimit"
	"github.com/authsvc/authsvc/secret"
)

// testRedisDB is the database number these tests use on the shared Redis;
// they delete only their own keys in it.
const testRedisDB = 11

// sharedRedis connects to the Redis at 127.0.0.1:6379. Without one the test is
// skipped, except in CI, where a missing Redis is a failure.
func sharedRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: testRedisDB})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379: %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	return rdb
}

// uniquePrefix is a REDIS_PREFIX no other run uses; its keys go afterwards.
func uniquePrefix(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	prefix := "test-" + rand.Text()[:12] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return prefix
}

// testKey is a SECRET_KEY for the limiters' MACs.
func testKey(t *testing.T, b byte) *secret.Key {
	t.Helper()
	k, err := secret.New(bytes.Repeat([]byte{b}, secret.MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRedisLimitIsSharedBetweenInstances(t *testing.T) {
	rdb := sharedRedis(t)
	prefix := uniquePrefix(t, rdb)
	// Two instances: separate clients, separate limiters, one Redis.
	other := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: testRedisDB})
	t.Cleanup(func() { other.Close() })
	a, b := ratelimit.NewRedis(rdb, prefix, testKey(t, 1)), ratelimit.NewRedis(other, prefix, testKey(t, 1))
	lim := ratelimit.Limit{Count: 3, Period: time.Hour}

	for i, l := range []ratelimit.Limiter{a, b, a} {
		if res := allow(t, l, "login", "ann", lim); !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("attempt %d = %+v, want allowed with %d remaining", i+1, res, 2-i)
		}
	}
	res := allow(t, b, "login", "ann", lim)
	if res.Allowed {
		t.Fatalf("attempt 4 on the other instance = %+v, want refused", res)
	}
	if res.RetryAfter < 19*time.Minute || res.RetryAfter > 20*time.Minute {
		t.Errorf("RetryAfter = %v, want about 20m (an hour / 3)", res.RetryAfter)
	}
	if !allow(t, a, "login", "bob", lim).Allowed {
		t.Error("another key was limited")
	}
	if ttl := rdb.PTTL(context.Background(), a.Key("login", "ann")).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL of the key = %v, want it to expire when the bucket is full again (an hour)", ttl)
	}
	if res := allow(t, a, "login", "ann", ratelimit.Limit{}); !res.Allowed {
		t.Error("an off limit refused")
	}
}

// TestRedisPeekCountsNothing: Peek answers as Allow would, and the count stays.
func TestRedisPeekCountsNothing(t *testing.T) {
	rdb := sharedRedis(t)
	r := ratelimit.NewRedis(rdb, uniquePrefix(t, rdb), testKey(t, 1))
	lim := ratelimit.Limit{Count: 2, Period: time.Hour}
	ctx := context.Background()
	for range 5 {
		if res, err := r.Peek(ctx, "login", "ann", lim); err != nil || !res.Allowed || res.Remaining != 1 {
			t.Fatalf("Peek on a fresh key = %+v, %v; want allowed with 1 remaining", res, err)
		}
	}
	if rdb.Exists(ctx, r.Key("login", "ann")).Val() != 0 {
		t.Fatal("Peek wrote the key")
	}
	allow(t, r, "login", "ann", lim)
	allow(t, r, "login", "ann", lim)
	res, err := r.Peek(ctx, "login", "ann", lim)
	if err != nil || res.Allowed || res.RetryAfter < 29*time.Minute || res.RetryAfter > 30*time.Minute {
		t.Fatalf("Peek past the limit = %+v, %v; want refused for about 30m", res, err)
	}
}

// TestRedisKeysHideIdentifiers: on a Redis of its own, after limited calls
// every key starts with the prefix and none holds what it counts.
func TestRedisKeysHideIdentifiers(t *testing.T) {
	addr := redistest.FreeAddr(t)
	redistest.Start(t, addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	const prefix = "eu-1:authsvc:"
	r := ratelimit.NewRedis(rdb, prefix, testKey(t, 1))
	lim := ratelimit.Limit{Count: 2, Period: time.Minute}
	identifiers := []string{"ada@example.com", "198.51.100.7", "2001:db8::7", "gateway"}
	for _, id := range identifiers {
		for range 3 {
			allow(t, r, "login_user", id, lim)
		}
	}
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) != len(identifiers) {
		t.Fatalf("keys %q, %v; want one per identifier", keys, err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix+"rate:login_user:") {
			t.Errorf("key %q does not start with %s", k, prefix)
		}
		for _, id := range identifiers {
			if strings.Contains(strings.ToLower(k), strings.ToLower(id)) {
				t.Errorf("key %q holds %q", k, id)
			}
		}
	}
}

// TestRedisPrefixesAndKeysKeepCountsApart: deployments sharing a Redis with
// their own prefix, or their own SECRET_KEY, count apart.
func TestRedisPrefixesAndKeysKeepCountsApart(t *testing.T) {
	rdb := sharedRedis(t)
	lim := ratelimit.Limit{Count: 1, Period: time.Hour}
	prefix := uniquePrefix(t, rdb)
	a := ratelimit.NewRedis(rdb, prefix, testKey(t, 1))
	if !allow(t, a, "login", "ann", lim).Allowed || allow(t, a, "login", "ann", lim).Allowed {
		t.Fatal("the first limiter does not count")
	}
	for name, other := range map[string]*ratelimit.Redis{
		"another prefix":     ratelimit.NewRedis(rdb, uniquePrefix(t, rdb), testKey(t, 1)),
		"another SECRET_KEY": ratelimit.NewRedis(rdb, prefix, testKey(t, 2)),
	} {
		if res := allow(t, other, "login", "ann", lim); !res.Allowed {
			t.Errorf("%s: %+v; want its own count", name, res)
		}
	}
}

func TestRedisErrorsAreReturned(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.FreeAddr(t), MaxRetries: -1})
	defer rdb.Close()
	_, err := ratelimit.NewRedis(rdb, "authsvc:", testKey(t, 1)).Allow(context.Background(), "s", "k", ratelimit.Limit{Count: 1, Period: time.Second})
	if err == nil {
		t.Fatal("Allow against no server succeeded")
	}
}
