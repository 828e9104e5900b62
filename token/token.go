package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Type is the JOSE "typ" of an access token (RFC 9068). Other JWS that authsvc
// signs with the same keys (the revocation feed) carry another typ, so they can
// never pass as access tokens.
const Type = "at+jwt"

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 5 * time.Second

var (
	// ErrExpired: the token was genuine and otherwise valid, but has expired.
	ErrExpired = errors.New("token: expired")
	// ErrInvalid: anything else; the wrapped error says what.
	ErrInvalid = errors.New("token: invalid")
)

// Claims are the access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	SessionID   string   `json:"sid"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	Username    string   `json:"username,omitempty"` // absent from service tokens
	Email       string   `json:"email,omitempty"`
	Resources   []string `json:"resources"`
	// AMR is how the session was authenticated (RFC 8176): ["pwd"], ["pwd",
	// "otp", "mfa"], ["pwd", "mfa"] or ["hwk", "user"].
	AMR []string `json:"amr"`
	// IDP is the external identity provider the session was opened with, if any.
	IDP string `json:"idp,omitempty"`
	// ClientID and Scope are a service token's (RFC 9068): the client it was
	// issued to (also its sub) and the permissions granted, space-separated.
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
	// Extra are claims added by the token hook (TOKEN_HOOK_URL), written beside
	// the others; a reserved name (IsReserved) is never written from here.
	// Verifying does not read them back.
	Extra map[string]any `json:"-"`
}

// reserved are the claims authsvc sets or means: a token hook can neither set
// nor change them.
var reserved = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"sid": true, "typ": true, "amr": true, "roles": true, "permissions": true, "resources": true,
	"client_id": true, "scope": true, "username": true, "email": true, "idp": true,
}

// IsReserved reports whether name is a claim only authsvc may write.
func IsReserved(name string) bool { return reserved[name] }

// IsService reports whether the token was issued to a service client (client
// credentials) rather than to a user's session.
func (c *Claims) IsService() bool { return c.ClientID != "" }

// MarshalJSON writes absent lists as [] rather than null, so clients can iterate
// them without a null check.
func (c Claims) MarshalJSON() ([]byte, error) {
	type plain Claims // drops this method, so no recursion
	p := plain(c)
	p.Roles, p.Permissions, p.Resources, p.AMR = orEmpty(p.Roles), orEmpty(p.Permissions), orEmpty(p.Resources), orEmpty(p.AMR)
	b, err := json.Marshal(p)
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	var extra map[string]any
	for k, v := range c.Extra {
		if reserved[k] {
			continue
		}
		if extra == nil {
			extra = make(map[string]any, len(c.Extra))
		}
		extra[k] = v
	}
	if extra == nil {
		return b, nil
	}
	// The registered claims win over any extra of the same name (an omitted
	// optional one, too, is never written from Extra: it is reserved).
	var own map[string]json.RawMessage
	if err := json.Unmarshal(b, &own); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, taken := own[k]; taken {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("token: extra claim %q: %w", k, err)
		}
		own[k] = raw
	}
	return json.Marshal(own)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Config is what every token of this deployment shares.
type Config struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

// Subject is who a token is issued to.
type Subject struct {
	UserID, SessionID             uuid.UUID
	Username, Email               string
	Roles, Permissions, Resources []string
	AMR                           []string // how the session was authenticated
	IDP                           string   // the identity provider it was opened with ("": none)
	// Client: a service token, UserID being the client's id and SessionID the
	// sid of the secret it was issued with; Scope the permissions granted.
	Client bool
	Scope  string
	// Extra claims (the token hook's), written beside the others; reserved
	// names (IsReserved) are dropped.
	Extra map[string]any
}

// signingMethod maps an alg to golang-jwt's implementation.
func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case ES256:
		return jwt.SigningMethodES256, nil
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	}
	return nil, fmt.Errorf("token: unsupported algorithm %q", alg)
}

// Issuer signs access tokens with the current signing key.
type Issuer struct {
	keys func() *KeySet
	cfg  Config
	now  func() time.Time
}

// NewIssuer reads the key set through keys on every call, so a rotation takes
// effect without rebuilding the issuer.
func NewIssuer(keys func() *KeySet, cfg Config, now func() time.Time) *Issuer {
	return &Issuer{keys: keys, cfg: cfg, now: now}
}

// Issue signs a token for s and returns it with its expiry (as written in exp).
func (i *Issuer) Issue(s Subject) (string, time.Time, error) {
	claims, err := i.Claims(s)
	if err != nil {
		return "", time.Time{}, err
	}
	return i.Sign(claims)
}

// Claims are the claims Issue would sign for s now: what a token hook is shown
// before Sign.
func (i *Issuer) Claims(s Subject) (*Claims, error) {
	if s.UserID == uuid.Nil || s.SessionID == uuid.Nil {
		return nil, errors.New("token: subject needs a user id and a session id")
	}
	jti, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	now := jwt.NewNumericDate(i.now())
	exp := jwt.NewNumericDate(now.Add(i.cfg.TTL))
	claims := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.cfg.Issuer,
			Subject:   s.UserID.String(),
			Audience:  jwt.ClaimStrings{i.cfg.Audience},
			ExpiresAt: exp,
			NotBefore: now,
			IssuedAt:  now,
			ID:        jti.String(),
		},
		SessionID:   s.SessionID.String(),
		Roles:       s.Roles,
		Permissions: s.Permissions,
		Username:    s.Username,
		Email:       s.Email,
		Resources:   s.Resources,
		AMR:         s.AMR,
		IDP:         s.IDP,
		Extra:       s.Extra,
	}
	if s.Client {
		claims.ClientID, claims.Scope = s.UserID.String(), s.Scope
	}
	return claims, nil
}

// Sign signs claims (from Claims) with the current signing key and returns the
// token with its expiry.
func (i *Issuer) Sign(claims *Claims) (string, time.Time, error) {
	if claims == nil || claims.ExpiresAt == nil {
		return "", time.Time{}, errors.New("token: no claims to sign")
	}
	ks := i.keys()
	if ks == nil || ks.signing == nil {
		return "", time.Time{}, errors.New("token: no signing key")
	}
	key := ks.signing
	method, err := signingMethod(key.Alg)
	if err != nil {
		return "", time.Time{}, err
	}
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = key.KID
	t.Header["typ"] = Type
	signed, err := t.SignedString(key.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	return signed, claims.ExpiresAt.Time, nil
}

// Verifier checks access tokens against the current key set.
type Verifier struct {
	keys         func() *KeySet
	cfg          Config
	onUnknownKID func()
	parser       *jwt.Parser
	keyFunc      jwt.Keyfunc // bound once so Verify does not allocate a closure per call
}

// NewVerifier builds the parser once. onUnknownKID (may be nil) is called when a
// token names a key the set does not hold, so the caller can reload keys that
// another instance created.
func NewVerifier(keys func() *KeySet, cfg Config, now func() time.Time, onUnknownKID func()) *Verifier {
	v := &Verifier{keys: keys, cfg: cfg, onUnknownKID: onUnknownKID}
	v.parser = jwt.NewParser(
		// Only asymmetric algorithms: never none, never HMAC. keyFor narrows
		// this further to the alg of the key the kid names.
		jwt.WithValidMethods([]string{ES256, EdDSA, RS256}),
		jwt.WithTimeFunc(now),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
	)
	v.keyFunc = v.keyFor
	return v
}

var (
	errType       = errors.New("typ is not " + Type)
	errCrit       = errors.New("critical header extensions are not supported")
	errNoKID      = errors.New("no kid in header")
	errUnknownKID = errors.New("unknown kid")
	errAlg        = errors.New("alg does not match the key")
	errNoKeys     = errors.New("no keys loaded")
	errSubject    = errors.New("sub is not a user id")
	errSession    = errors.New("sid is not a session id")
	errClientID   = errors.New("client_id is not the sub")
)

// keyFor picks the verification key: the header must be an access token's and
// name a key we hold, under that key's own algorithm.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	// RFC 9068 allows the full media type too; media types compare case-insensitively.
	if !strings.EqualFold(typ, Type) && !strings.EqualFold(typ, "application/"+Type) {
		return nil, errType
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKID
	}
	ks := v.keys()
	if ks == nil {
		return nil, errNoKeys
	}
	k := ks.lookup(kid)
	if k == nil {
		if v.onUnknownKID != nil {
			v.onUnknownKID()
		}
		return nil, errUnknownKID
	}
	if t.Method.Alg() != k.Alg {
		return nil, errAlg
	}
	return k.Public, nil
}

// Verify checks signature, header and claims. It returns ErrExpired when the
// token is genuine and its only fault is its age, and an error wrapping
// ErrInvalid otherwise.
func (v *Verifier) Verify(tok string) (*Claims, error) {
	c := new(Claims)
	if _, err := v.parser.ParseWithClaims(tok, c, v.keyFunc); err != nil {
		if onlyExpired(err) {
			return nil, ErrExpired
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if id, err := uuid.Parse(c.Subject); err != nil || id == uuid.Nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errSubject)
	}
	if id, err := uuid.Parse(c.SessionID); err != nil || id == uuid.Nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errSession)
	}
	if c.ClientID != "" && c.ClientID != c.Subject {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errClientID)
	}
	return c, nil
}

// onlyExpired reports whether claim validation failed on exp alone. golang-jwt
// validates claims only after the signature, so this never holds for a forgery.
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) || !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range [...]error{
		jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet,
		jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenRequiredClaimMissing, jwt.ErrInvalidType,
	} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}
