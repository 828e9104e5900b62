package ratelimit_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/ratelimit"
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

// uniqueScope names a scope no other run uses and removes its keys afterwards.
func uniqueScope(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	scope := "test-" + rand.Text()[:12]
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, "rate:"+scope+":*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return scope
}

func TestRedisLimitIsSharedBetweenInstances(t *testing.T) {
	rdb := sharedRedis(t)
	scope := uniqueScope(t, rdb)
	// Two instances: separate clients, separate limiters, one Redis.
	other := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: testRedisDB})
	t.Cleanup(func() { other.Close() })
	a, b := ratelimit.NewRedis(rdb), ratelimit.NewRedis(other)
	lim := ratelimit.Limit{Count: 3, Period: time.Hour}

	for i, l := range []ratelimit.Limiter{a, b, a} {
		if res := allow(t, l, scope, "ann", lim); !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("attempt %d = %+v, want allowed with %d remaining", i+1, res, 2-i)
		}
	}
	res := allow(t, b, scope, "ann", lim)
	if res.Allowed {
		t.Fatalf("attempt 4 on the other instance = %+v, want refused", res)
	}
	if res.RetryAfter < 19*time.Minute || res.RetryAfter > 20*time.Minute {
		t.Errorf("RetryAfter = %v, want about 20m (an hour / 3)", res.RetryAfter)
	}
	if !allow(t, a, scope, "bob", lim).Allowed {
		t.Error("another key was limited")
	}
	if ttl := rdb.TTL(context.Background(), "rate:"+scope+":ann").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL of the key = %v, want it to expire within the period", ttl)
	}
	if res := allow(t, a, scope, "ann", ratelimit.Limit{}); !res.Allowed {
		t.Error("an off limit refused")
	}
}

func TestRedisErrorsAreReturned(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.FreeAddr(t), MaxRetries: -1})
	defer rdb.Close()
	_, err := ratelimit.NewRedis(rdb).Allow(context.Background(), "s", "k", ratelimit.Limit{Count: 1, Period: time.Second})
	if err == nil {
		t.Fatal("Allow against no server succeeded")
	}
}
