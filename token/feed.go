package token

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// FeedType is the JWS typ of the revocation feed. The access-token verifier
// requires at+jwt, so a feed can never pass as an access token.
const FeedType = "revocations+jwt"

// FeedRevocation is one entry of the feed: a revoked session, and when the
// last access token it issued expires (NumericDate).
type FeedRevocation struct {
	SID string `json:"sid"`
	Exp int64  `json:"exp"`
}

// SignFeed signs a page of the revocation feed with the current key:
// {"iss", "iat", "revocations", "next_cursor"}.
func (i *Issuer) SignFeed(revocations []FeedRevocation, nextCursor string) (string, error) {
	ks := i.keys()
	if ks == nil || ks.signing == nil {
		return "", errors.New("token: no signing key")
	}
	key := ks.signing
	method, err := signingMethod(key.Alg)
	if err != nil {
		return "", err
	}
	if revocations == nil {
		revocations = []FeedRevocation{}
	}
	t := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": i.cfg.Issuer, "iat": i.now().Unix(), "revocations": revocations, "next_cursor": nextCursor,
	})
	t.Header["kid"] = key.KID
	t.Header["typ"] = FeedType
	signed, err := t.SignedString(key.Private)
	if err != nil {
		return "", fmt.Errorf("token: sign feed: %w", err)
	}
	return signed, nil
}
