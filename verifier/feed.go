package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// maxPages bounds one Refresh: at 1,000 entries a page, a million revocations.
const maxPages = 1000

type feedPayload struct {
	Iss         string `json:"iss"`
	Iat         int64  `json:"iat"`
	Revocations []struct {
		SID string `json:"sid"`
		Exp int64  `json:"exp"`
	} `json:"revocations"`
	NextCursor string `json:"next_cursor"`
}

// Refresh reads the revocation feed now: from the last cursor, following
// next_cursor until an empty page, with If-None-Match. The background poller
// calls it every PollInterval; call it to apply revocations at once.
func (v *Verifier) Refresh(ctx context.Context) error {
	if v.cfg.FeedURL == "" {
		return nil
	}
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	started := v.cfg.Now()
	err := v.poll(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastErr = err
	if err == nil {
		v.lastOK = started
	}
	// Drop entries whose tokens have all expired.
	for sid, exp := range v.revoked {
		if started.After(exp.Add(v.cfg.Leeway)) {
			delete(v.revoked, sid)
		}
	}
	return err
}

func (v *Verifier) poll(ctx context.Context) error {
	v.mu.Lock()
	cursor, etag := v.cursor, v.etag
	v.mu.Unlock()
	for range maxPages {
		p, newETag, changed, err := v.fetchPage(ctx, cursor, etag)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
		v.mu.Lock()
		for _, r := range p.Revocations {
			if r.SID != "" {
				v.revoked[r.SID] = time.Unix(r.Exp, 0).UTC()
			}
		}
		if p.NextCursor != "" {
			v.cursor = p.NextCursor
		}
		v.etag = newETag
		v.mu.Unlock()
		if len(p.Revocations) == 0 || p.NextCursor == "" || p.NextCursor == cursor {
			return nil
		}
		cursor, etag = p.NextCursor, newETag
	}
	return fmt.Errorf("revocation feed: more than %d pages", maxPages)
}

// fetchPage reads and verifies one page; changed is false on 304.
func (v *Verifier) fetchPage(ctx context.Context, cursor, etag string) (p feedPayload, newETag string, changed bool, err error) {
	u, err := url.Parse(v.cfg.FeedURL)
	if err != nil {
		return p, "", false, err
	}
	if cursor != "" {
		q := u.Query()
		q.Set("since", cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return p, "", false, err
	}
	req.SetBasicAuth(v.cfg.ClientID, v.cfg.ClientSecret)
	req.Header.Set("Accept", "application/jwt")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return p, "", false, fmt.Errorf("revocation feed: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return p, "", false, fmt.Errorf("revocation feed: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusNotModified:
		return p, etag, false, nil
	case http.StatusOK:
	default:
		return p, "", false, fmt.Errorf("revocation feed: %s: %.200s", resp.Status, body)
	}
	payload, err := v.verifyJWS(ctx, string(body), FeedType)
	if err != nil {
		return p, "", false, fmt.Errorf("revocation feed: %w", err)
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, "", false, fmt.Errorf("revocation feed: payload: %w", err)
	}
	if p.Iss != v.cfg.Issuer {
		return p, "", false, fmt.Errorf("revocation feed: iss %q, want %q", p.Iss, v.cfg.Issuer)
	}
	return p, resp.Header.Get("ETag"), true, nil
}
