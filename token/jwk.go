// Package token issues and verifies authsvc's access tokens: JWTs signed with an
// asymmetric key (ES256, EdDSA or RS256) whose kid is the key's RFC 7638 thumbprint.
// It knows nothing about the database; the keys package feeds it key sets.
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Supported signing algorithms (JWA names).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// Algorithms lists every supported signing algorithm, the default (ES256)
// first. It is the one list JWT_ALG is checked against and discovery
// publishes; do not modify it.
var Algorithms = []string{ES256, EdDSA, RS256}

// rsaBits is the size of generated RSA keys and the smallest accepted one.
const rsaBits = 2048

// GenerateKey returns a new private key for alg: P-256 for ES256, Ed25519 for
// EdDSA, RSA-2048 for RS256.
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return nil, fmt.Errorf("token: unsupported algorithm %q (use %s)", alg, strings.Join(Algorithms, ", "))
}

// publicKey is pub as a jwx key, for the public key types authsvc signs with only.
func publicKey(pub crypto.PublicKey) (jwk.Key, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("token: only P-256 EC keys are supported")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("token: bad Ed25519 key length")
		}
	case *rsa.PublicKey:
		if k.N == nil || k.E <= 0 {
			return nil, errors.New("token: incomplete RSA key")
		}
	default:
		return nil, fmt.Errorf("token: unsupported public key type %T", pub)
	}
	key, err := jwk.Import(pub)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return key, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of pub (SHA-256, base64url without
// padding): the kid of every authsvc key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	key, err := publicKey(pub)
	if err != nil {
		return "", err
	}
	sum, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// PublicJWK is pub as a JSON Web Key for a JWKS document, with kid, alg and use "sig".
func PublicJWK(pub crypto.PublicKey, kid, alg string) ([]byte, error) {
	if err := checkKeyAlg(pub, alg); err != nil {
		return nil, err
	}
	key, err := publicKey(pub)
	if err != nil {
		return nil, err
	}
	if kid != "" {
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			return nil, fmt.Errorf("token: JWK: %w", err)
		}
	}
	if err := errors.Join(key.Set(jwk.AlgorithmKey, alg), key.Set(jwk.KeyUsageKey, jwk.ForSignature)); err != nil {
		return nil, fmt.Errorf("token: JWK: %w", err)
	}
	return json.Marshal(key)
}

// ParsePublicJWK reads a JWK written by PublicJWK back into a public key, with
// its kid and alg. It refuses private keys and keys that do not fit their alg.
func ParsePublicJWK(data []byte) (pub crypto.PublicKey, kid, alg string, err error) {
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, "", "", fmt.Errorf("token: JWK: %w", err)
	}
	if private, err := jwk.IsPrivateKey(key); err != nil || private {
		return nil, "", "", fmt.Errorf("token: JWK: kty %q is not an asymmetric public key", key.KeyType())
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, "", "", fmt.Errorf("token: JWK: %w", err)
	}
	kid, _ = key.KeyID()
	if a, ok := key.Algorithm(); ok {
		alg = a.String()
	}
	if err := checkKeyAlg(raw, alg); err != nil {
		return nil, "", "", err
	}
	return raw, kid, alg, nil
}

// checkKeyAlg makes sure pub is the kind of key alg uses, so a key can never be
// used under another algorithm than the one it was made for.
func checkKeyAlg(pub crypto.PublicKey, alg string) error {
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == EdDSA && len(k) == ed25519.PublicKeySize
	case *rsa.PublicKey:
		if alg == RS256 && k.N != nil && k.N.BitLen() < rsaBits {
			return fmt.Errorf("token: RSA key of %d bits is too small", k.N.BitLen())
		}
		ok = alg == RS256 && k.N != nil
	}
	if !ok {
		return fmt.Errorf("token: a %T cannot be used for %q", pub, alg)
	}
	return nil
}
