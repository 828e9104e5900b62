package authcache

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authsvc/authsvc/store"
)

// Listen hears the changes every instance commits (store.ChangeChannel) on a
// connection of its own, until ctx ends. While it listens, entries live
// ListeningMaxAge; while it does not, FallbackMaxAge, and everything cached is
// forgotten when it (re)connects, since changes may have been missed.
func Listen(ctx context.Context, databaseURL string, c *Cache, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, databaseURL, c, func() { backoff = 100 * time.Millisecond })
		c.SetMaxAge(FallbackMaxAge)
		if ctx.Err() != nil {
			return
		}
		log.Warn("cache invalidation channel lost; cached sessions and accounts now live at most "+FallbackMaxAge.String(),
			"error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, databaseURL string, c *Cache, connected func()) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = store.ListenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+store.ChangeChannel+"; LISTEN "+store.AckChannel); err != nil {
		return err
	}
	c.Invalidate(store.Change{All: true}) // whatever was missed while away
	c.SetMaxAge(ListeningMaxAge)
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == store.AckChannel {
			c.acked(n.Payload)
			continue
		}
		ch := store.ParseChange(n.Payload)
		c.Invalidate(ch)
		if ch.Nonce != "" { // tell its maker this instance has forgotten what it made stale
			if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", store.AckChannel, ch.Nonce); err != nil {
				return err
			}
		}
	}
}
