package mail

import (
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/secret"
)

// Seal encrypts m for the outbox row id. The id is the associated data, so a
// payload copied onto another row does not open.
func Seal(key *secret.Key, id uuid.UUID, m Message) ([]byte, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("mail: encode payload: %w", err)
	}
	return key.Seal(plain, id[:]), nil
}

// Open reverses Seal. It fails with secret.ErrOpen when the payload was sealed
// for another row or under another SECRET_KEY.
func Open(key *secret.Key, id uuid.UUID, sealed []byte) (Message, error) {
	plain, err := key.Open(sealed, id[:])
	if err != nil {
		return Message{}, fmt.Errorf("mail: open payload: %w", err)
	}
	var m Message
	if err := json.Unmarshal(plain, &m); err != nil {
		// Don't wrap: a JSON error could quote the plaintext.
		return Message{}, fmt.Errorf("mail: decode payload: malformed")
	}
	return m, nil
}

// NewOutboxMail makes the outbox row for m, due at once. The recipient is
// checked here so a malformed address fails the request that queues it instead
// of being retried forever by the worker. A mail worthless after some time
// (its link expires) gets that time as ExpiresAt: the worker then gives it up
// instead of sending it late.
func NewOutboxMail(key *secret.Key, m Message, now time.Time) (models.OutboxMail, error) {
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return models.OutboxMail{}, fmt.Errorf("mail: invalid recipient: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return models.OutboxMail{}, err
	}
	sealed, err := Seal(key, id, m)
	if err != nil {
		return models.OutboxMail{}, err
	}
	return models.OutboxMail{ID: id, PayloadSealed: sealed, NextAttemptAt: now, CreatedAt: now}, nil
}
