package ratelimit

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis limits across every instance sharing one Redis. Keys are
// "rate:<scope>:<key>" and expire by themselves once their bucket is full
// again; the clock is Redis's own, so instances' clocks need not agree.
type Redis struct {
	lim *redis_rate.Limiter
}

// NewRedis uses rdb (a *redis.Client, a cluster or ring client) for every call.
func NewRedis(rdb redis.UniversalClient) *Redis {
	return &Redis{lim: redis_rate.NewLimiter(rdb)}
}

func (r *Redis) Allow(ctx context.Context, scope, key string, l Limit) (Result, error) {
	if l.Off() {
		return unlimited, nil
	}
	res, err := r.lim.Allow(ctx, scope+":"+key, redis_rate.Limit{Rate: l.Count, Burst: l.Count, Period: l.Period})
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if res.Allowed == 0 {
		return Result{RetryAfter: res.RetryAfter}, nil
	}
	return Result{Allowed: true, Remaining: res.Remaining}, nil
}
