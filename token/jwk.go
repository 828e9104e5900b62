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
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Supported signing algorithms (JWA names).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

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
	return nil, fmt.Errorf("token: unsupported algorithm %q (use ES256, EdDSA or RS256)", alg)
}

// jwk holds the members authsvc reads and writes. Field order here is the order
// PublicJWK writes them; Thumbprint builds its own canonical form.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// publicMembers fills the key-type members (kty, crv, x, y, n, e) of pub.
func publicMembers(pub crypto.PublicKey) (jwk, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return jwk{}, errors.New("token: only P-256 EC keys are supported")
		}
		// Bytes is 0x04 || X || Y with each coordinate padded to the field size,
		// which is exactly the fixed-length form RFC 7518 asks for.
		raw, err := k.Bytes()
		if err != nil {
			return jwk{}, fmt.Errorf("token: EC key: %w", err)
		}
		n := (len(raw) - 1) / 2
		return jwk{Kty: "EC", Crv: "P-256", X: base64.RawURLEncoding.EncodeToString(raw[1 : 1+n]), Y: base64.RawURLEncoding.EncodeToString(raw[1+n:])}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return jwk{}, errors.New("token: bad Ed25519 key length")
		}
		return jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k)}, nil
	case *rsa.PublicKey:
		if k.N == nil || k.E <= 0 {
			return jwk{}, errors.New("token: incomplete RSA key")
		}
		return jwk{Kty: "RSA", N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()), E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
	}
	return jwk{}, fmt.Errorf("token: unsupported public key type %T", pub)
}

// Thumbprint is the RFC 7638 JWK thumbprint of pub: SHA-256 over the required
// members in lexicographic order without whitespace, base64url without padding.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	m, err := publicMembers(pub)
	if err != nil {
		return "", err
	}
	// The member values are base64url or fixed names, so they need no JSON escaping.
	var canon string
	switch m.Kty {
	case "EC":
		canon = `{"crv":"` + m.Crv + `","kty":"EC","x":"` + m.X + `","y":"` + m.Y + `"}`
	case "OKP":
		canon = `{"crv":"` + m.Crv + `","kty":"OKP","x":"` + m.X + `"}`
	case "RSA":
		canon = `{"e":"` + m.E + `","kty":"RSA","n":"` + m.N + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// PublicJWK is pub as a JSON Web Key for a JWKS document, with kid, alg and use "sig".
func PublicJWK(pub crypto.PublicKey, kid, alg string) ([]byte, error) {
	if err := checkKeyAlg(pub, alg); err != nil {
		return nil, err
	}
	m, err := publicMembers(pub)
	if err != nil {
		return nil, err
	}
	m.Kid, m.Alg, m.Use = kid, alg, "sig"
	return json.Marshal(m)
}

// ParsePublicJWK reads a JWK written by PublicJWK back into a public key, with its kid and alg.
func ParsePublicJWK(data []byte) (pub crypto.PublicKey, kid, alg string, err error) {
	var m jwk
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", "", fmt.Errorf("token: JWK: %w", err)
	}
	switch {
	case m.Kty == "EC" && m.Crv == "P-256":
		x, errX := decodeFixed(m.X, 32)
		y, errY := decodeFixed(m.Y, 32)
		if err := errors.Join(errX, errY); err != nil {
			return nil, "", "", fmt.Errorf("token: JWK: %w", err)
		}
		point := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, "", "", fmt.Errorf("token: JWK: %w", err)
		}
		pub = k
	case m.Kty == "OKP" && m.Crv == "Ed25519":
		x, err := decodeFixed(m.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, "", "", fmt.Errorf("token: JWK: %w", err)
		}
		pub = ed25519.PublicKey(x)
	case m.Kty == "RSA":
		n, errN := base64.RawURLEncoding.DecodeString(m.N)
		e, errE := base64.RawURLEncoding.DecodeString(m.E)
		if err := errors.Join(errN, errE); err != nil {
			return nil, "", "", fmt.Errorf("token: JWK: %w", err)
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, "", "", errors.New("token: JWK: bad RSA exponent")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	default:
		return nil, "", "", fmt.Errorf("token: JWK: unsupported key type %q/%q", m.Kty, m.Crv)
	}
	if err := checkKeyAlg(pub, m.Alg); err != nil {
		return nil, "", "", err
	}
	return pub, m.Kid, m.Alg, nil
}

func decodeFixed(s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("coordinate is %d bytes, want %d", len(b), n)
	}
	return b, nil
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
