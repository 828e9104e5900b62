// Package webhooks delivers events to the webhooks admins register: the
// outbox worker (Worker), the signing secrets (SealSecret, OpenSecret,
// NewSecret), and the guard that keeps deliveries off private networks
// (CheckURL, NewClient).
package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/secret"
)

// SecretPrefix starts every webhook secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// NewSecret makes a webhook signing secret: "whsec_" and the standard base64
// of 32 random bytes, as the Standard Webhooks libraries expect.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretAAD binds a sealed secret to its webhook: one row's secret does not
// open as another's.
func secretAAD(id uuid.UUID) []byte { return []byte("webhook-secret:" + id.String()) }

// SealSecret seals a webhook's secret with SECRET_KEY, for webhooks.secret_sealed.
func SealSecret(key *secret.Key, id uuid.UUID, plain string) []byte {
	return key.Seal([]byte(plain), secretAAD(id))
}

// OpenSecret reverses SealSecret. It fails when the secret was sealed for
// another webhook or under another SECRET_KEY.
func OpenSecret(key *secret.Key, id uuid.UUID, sealed []byte) (string, error) {
	plain, err := key.Open(sealed, secretAAD(id))
	if err != nil {
		return "", fmt.Errorf("webhooks: open secret: %w", err)
	}
	return string(plain), nil
}
