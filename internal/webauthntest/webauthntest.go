// Package webauthntest gives tests software passkeys (github.com/descope/virtualwebauthn)
// that every relying party accepts.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"

	"github.com/descope/virtualwebauthn"
)

// NewCredential is a new P-256 passkey for a software authenticator.
// virtualwebauthn writes the public key's coordinates without their leading
// zero bytes (big.Int.Bytes), which a verifier rightly refuses; about one key
// in 64 has one. So the key is drawn until both coordinates take 32 bytes.
func NewCredential() virtualwebauthn.Credential {
	for {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic("webauthntest: " + err.Error())
		}
		if len(key.X.Bytes()) != 32 || len(key.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			panic("webauthntest: " + err.Error())
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}
