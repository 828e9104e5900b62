package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// defaultMaxAge is how long a JWKS without a usable max-age is kept.
const defaultMaxAge = 5 * time.Minute

// keyCache holds the JWKS for its Cache-Control max-age. An unknown kid
// re-fetches it, at most once per minRefetch. A failed fetch keeps the keys
// it had.
type keyCache struct {
	url        string
	client     *http.Client
	now        func() time.Time
	minRefetch time.Duration

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex
	set     jwk.Set
	expires time.Time
	tried   time.Time // last fetch attempt
	lastErr error     // of that attempt, for the errors of the calls it holds back
}

func (c *keyCache) snapshot() (jwk.Set, time.Time, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set, c.expires, c.tried
}

func (c *keyCache) fetchErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// get returns the key with the kid (with kid "", only fills the cache).
func (c *keyCache) get(ctx context.Context, kid string) (jwk.Key, error) {
	set, expires, tried := c.snapshot()
	now := c.now()
	if set != nil && now.Before(expires) {
		if k, ok := lookup(set, kid); ok || kid == "" {
			return k, nil
		}
		if now.Sub(tried) < c.minRefetch {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
	} else if !tried.IsZero() && now.Sub(tried) < c.minRefetch {
		// Expired or never fetched, and a fetch was just tried: no new
		// request; keep using what we have.
		if set == nil {
			return nil, fmt.Errorf("JWKS unavailable: %v", c.fetchErr())
		}
		if k, ok := lookup(set, kid); ok || kid == "" {
			return k, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	}

	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	// Another caller may have fetched while this one waited.
	if set2, _, tried2 := c.snapshot(); tried2.After(tried) && set2 != nil {
		if k, ok := lookup(set2, kid); ok || kid == "" {
			return k, nil
		}
		if c.now().Sub(tried2) < c.minRefetch {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
	}
	fetchErr := c.fetch(ctx)
	set, _, _ = c.snapshot()
	if set == nil {
		return nil, fmt.Errorf("JWKS: %w", fetchErr)
	}
	if k, ok := lookup(set, kid); ok || kid == "" {
		return k, nil
	}
	if fetchErr != nil {
		return nil, fmt.Errorf("unknown kid %q (JWKS refetch: %v)", kid, fetchErr)
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

func lookup(set jwk.Set, kid string) (jwk.Key, bool) {
	if kid == "" {
		return nil, false
	}
	return set.LookupKeyID(kid)
}

func (c *keyCache) fetch(ctx context.Context) error {
	now := c.now()
	c.mu.Lock()
	c.tried = now
	c.mu.Unlock()
	err := c.fetchAt(ctx, now)
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
	return err
}

func (c *keyCache) fetchAt(ctx context.Context, now time.Time) error {

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", c.url, resp.Status)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	if set.Len() == 0 {
		return errors.New("JWKS: no keys")
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if _, private := k.(interface{ D() ([]byte, bool) }); private {
			return errors.New("JWKS holds a private key")
		}
	}
	c.mu.Lock()
	c.set = set
	c.expires = now.Add(maxAge(resp.Header.Get("Cache-Control")))
	c.mu.Unlock()
	return nil
}

// maxAge reads max-age from Cache-Control; no-store, no-cache or none: the default.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return defaultMaxAge
}
