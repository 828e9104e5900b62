package handlers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/store"
	"github.com/authsvc/authsvc/token"
)

// feedPage is the most revocations one page of the feed lists.
const feedPage = 1000

// getRevocations godoc
//
//	@ID				getRevocations
//	@Summary		The signed revocation feed
//	@Description	For gateways that verify tokens offline: the sessions revoked after the cursor, as a compact JWS (typ revocations+jwt) signed by the current token key, verifiable with the JWKS. Payload: {"iss", "iat", "revocations": [{"sid", "exp"}], "next_cursor"}. exp is when the last access token of the session expires; an entry leaves the feed then. Without since: every revocation still relevant. Follow next_cursor until the list is empty, which returns the same cursor; then poll with it. At most 1,000 entries a page. Send the ETag back in If-None-Match: 304 when nothing changed. Clients authenticate as for introspection.
//	@Tags			gateways
//	@Produce		application/jwt
//	@Param			since			query		string	false	"next_cursor of the previous page"
//	@Param			If-None-Match	header		string	false	"ETag of the last answer"
//	@Success		200				{string}	string	"compact JWS"
//	@Success		304				"nothing changed"
//	@Failure		400				{object}	problem.Error	"invalid_cursor"
//	@Failure		401				{object}	problem.Error	"invalid_client"
//	@Failure		429				{object}	problem.Error	"rate_limited: too many calls from this client (INTROSPECTION_RATE_LIMIT), or too many failed client authentications from this address or for this client id (INTROSPECTION_FAILURE_RATE_LIMIT); see Retry-After"
//	@Security		IntrospectionClient
//	@Router			/v1/auth/revocations [get]
func (h *Gateway) getRevocations(c echo.Context) error {
	if err := h.admit(c); err != nil {
		return err
	}
	since := c.QueryParam("since")
	at, err := h.Cursors.Decode(since)
	if err != nil {
		return err
	}
	pos := feedPosition(at)
	// Rotated client secrets whose overlap has ended join the feed now, at
	// the latest: authsvc refuses their tokens by the clock already.
	if err := h.Store.EndOverlaps(c.Request().Context(), h.Now(), h.AccessTTL); err != nil {
		return err
	}
	entries, err := h.Store.RevocationsAfter(c.Request().Context(), pos, h.Now(), feedPage)
	if err != nil {
		return err
	}
	revs := make([]token.FeedRevocation, len(entries))
	for i, e := range entries {
		revs[i] = token.FeedRevocation{SID: e.SessionID.String(), Exp: e.ExpiresAt.Unix()}
		pos = e.Position
	}
	next := h.Cursors.Encode(feedCursor(pos))

	// The answer changes with the entries and the cursors, not with iat.
	listed, _ := json.Marshal(revs)
	sum := sha256.Sum256([]byte(since + "\x00" + next + "\x00" + string(listed)))
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	c.Response().Header().Set("ETag", etag)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	jws, err := h.Issuer.SignFeed(revs, next)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/jwt", []byte(jws))
}

// etagMatches applies If-None-Match (a list, or *) to etag.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// A feed cursor carries a position (a sequence number) in the 16 bytes the
// signed cursors hold; the top bit marks it, so that the start (0) is no
// all-zero cursor. (The first 8 bytes held a transaction id before migration
// 00010; a cursor from then resumes at its sequence number.)
func feedCursor(p store.FeedPosition) uuid.UUID {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[:8], 1<<63)
	binary.BigEndian.PutUint64(id[8:], uint64(p.Seq))
	return id
}

func feedPosition(id uuid.UUID) store.FeedPosition {
	if id == uuid.Nil {
		return store.FeedPosition{}
	}
	return store.FeedPosition{Seq: int64(binary.BigEndian.Uint64(id[8:]))}
}
