package ratelimit

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/secret"
)

// Redis limits across every instance sharing one Redis. A key is
// "<prefix>rate:<scope>:<MAC of the key>": what is counted (an email, an IP
// address) is not readable by whoever reads Redis, and deployments with
// their own prefix can share the server. Keys expire by themselves once their
// bucket is full again; the clock is Redis's own, so instances' clocks need
// not agree.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	key    *secret.Key
}

// NewRedis uses rdb (a *redis.Client, a cluster or ring client) for every
// call, with keys starting with prefix and MACed under key. Instances that
// share limits need the same prefix and key.
func NewRedis(rdb redis.UniversalClient, prefix string, key *secret.Key) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, key: key}
}

// Key is the Redis key that counts key in scope.
func (r *Redis) Key(scope, key string) string {
	mac := r.key.MAC("ratelimit", []byte(scope+"\x00"+key))
	return r.prefix + "rate:" + scope + ":" + base64.RawURLEncoding.EncodeToString(mac[:16])
}

func (r *Redis) Allow(ctx context.Context, scope, key string, l Limit) (Result, error) {
	return r.take(ctx, scope, key, l, 1)
}

func (r *Redis) Peek(ctx context.Context, scope, key string, l Limit) (Result, error) {
	return r.take(ctx, scope, key, l, 0)
}

func (r *Redis) take(ctx context.Context, scope, key string, l Limit, count int) (Result, error) {
	if l.Off() {
		return unlimited, nil
	}
	interval := max(1, l.interval().Microseconds())
	v, err := gcra.Run(ctx, r.rdb, []string{r.Key(scope, key)}, l.Count, interval, count).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if v[0] == 0 {
		return Result{RetryAfter: time.Duration(v[1]) * time.Microsecond}, nil
	}
	return Result{Allowed: true, Remaining: int(v[1])}, nil
}

// gcra is Memory.take in Redis, in whole microseconds of Redis's clock (below
// 2^53, so exact in Lua's numbers). KEYS[1] holds the theoretical arrival
// time of the next event; ARGV: the limit's count, its interval in µs, and 1
// to count the event or 0 to only ask. It answers {1, remaining} or {0, µs to
// wait}.
var gcra = redis.NewScript(`
local count, interval, take = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1])) or now
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - interval * count
if now < allow_at then return {0, allow_at - now} end
if take == 1 then
  redis.call("SET", KEYS[1], string.format("%d", nxt), "PX", math.ceil((nxt - now) / 1000))
end
return {1, math.floor((now - allow_at) / interval)}
`)
