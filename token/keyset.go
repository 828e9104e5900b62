package token

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
)

// Key is one signing key. Private is set only on the key that signs.
type Key struct {
	KID     string
	Alg     string
	Public  crypto.PublicKey
	Private crypto.Signer
}

// KeySet is an immutable snapshot of the keys in use: the one that signs and
// every one that may still verify. Swapping a whole snapshot lets verification
// read it without locks.
type KeySet struct {
	signing *Key
	verify  []Key // a handful at most, so a linear scan beats a map
	jwks    []byte
}

// NewKeySet checks the keys and precomputes the JWKS document. verify lists every
// key that may still verify a live token (next, current, retiring) and must
// include signing; signing may be nil for a verify-only set.
func NewKeySet(signing *Key, verify []Key) (*KeySet, error) {
	s := &KeySet{verify: make([]Key, 0, len(verify))}
	type jwksDoc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	doc := jwksDoc{Keys: make([]json.RawMessage, 0, len(verify))}
	for _, k := range verify {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		if s.lookup(k.KID) != nil {
			return nil, fmt.Errorf("token: duplicate kid %q", k.KID)
		}
		k.Private = nil // only the signing key carries its private half
		j, err := PublicJWK(k.Public, k.KID, k.Alg)
		if err != nil {
			return nil, err
		}
		s.verify = append(s.verify, k)
		doc.Keys = append(doc.Keys, j)
	}
	if signing != nil {
		if signing.Private == nil {
			return nil, errors.New("token: signing key has no private key")
		}
		v := s.lookup(signing.KID)
		if v == nil {
			return nil, fmt.Errorf("token: signing key %q is not among the verification keys", signing.KID)
		}
		if v.Alg != signing.Alg || !samePublic(v.Public, signing.Public) || !samePublic(signing.Private.Public(), signing.Public) {
			return nil, fmt.Errorf("token: signing key %q does not match its public key", signing.KID)
		}
		k := *signing
		s.signing = &k
	}
	jwks, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	s.jwks = jwks
	return s, nil
}

// checkKey rejects a key whose kid is not its thumbprint or whose type does not fit its alg.
func checkKey(k Key) error {
	if err := checkKeyAlg(k.Public, k.Alg); err != nil {
		return err
	}
	tp, err := Thumbprint(k.Public)
	if err != nil {
		return err
	}
	if k.KID != tp {
		return fmt.Errorf("token: kid %q is not the key's thumbprint %q", k.KID, tp)
	}
	return nil
}

func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// JWKS is the precomputed {"keys":[…]} document. The slice is shared: do not modify it.
func (s *KeySet) JWKS() []byte { return s.jwks }

// Signing is the key that signs new tokens, or nil for a verify-only set.
func (s *KeySet) Signing() *Key { return s.signing }

// Keys lists the verification keys (without private halves).
func (s *KeySet) Keys() []Key { return append([]Key(nil), s.verify...) }

func (s *KeySet) lookup(kid string) *Key {
	for i := range s.verify {
		if s.verify[i].KID == kid {
			return &s.verify[i]
		}
	}
	return nil
}
