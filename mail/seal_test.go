package mail_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/mail"
	"github.com/authsvc/authsvc/secret"
)

func testKey(t *testing.T, fill byte) *secret.Key {
	t.Helper()
	k, err := secret.New(bytes.Repeat([]byte{fill}, secret.MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	key := testKey(t, 1)
	id := uuid.New()
	m := mail.Message{To: "ann@example.com", Subject: "s", Text: "t", HTML: "<p>h</p>"}
	sealed, err := mail.Seal(key, id, m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("ann@example.com")) {
		t.Fatal("sealed payload holds the plaintext")
	}
	got, err := mail.Open(key, id, sealed)
	if err != nil || got != m {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, m)
	}

	if _, err := mail.Open(key, uuid.New(), sealed); !errors.Is(err, secret.ErrOpen) {
		t.Errorf("Open with another row id: err = %v; want secret.ErrOpen", err)
	}
	if _, err := mail.Open(testKey(t, 2), id, sealed); !errors.Is(err, secret.ErrOpen) {
		t.Errorf("Open with another key: err = %v; want secret.ErrOpen", err)
	}
}

func TestNewOutboxMail(t *testing.T) {
	key := testKey(t, 1)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	m := mail.Message{To: "ann@example.com", Subject: "s", Text: "t"}
	om, err := mail.NewOutboxMail(key, m, now)
	if err != nil {
		t.Fatal(err)
	}
	if om.ID.Version() != 7 {
		t.Errorf("id version %d; want 7", om.ID.Version())
	}
	if !om.NextAttemptAt.Equal(now) || !om.CreatedAt.Equal(now) || om.Attempts != 0 || om.SentAt != nil || om.ClaimedUntil != nil {
		t.Errorf("row = %+v; want due now, fresh", om)
	}
	if got, err := mail.Open(key, om.ID, om.PayloadSealed); err != nil || got != m {
		t.Errorf("payload opens to %+v, %v", got, err)
	}

	if _, err := mail.NewOutboxMail(key, mail.Message{To: "not an address"}, now); err == nil {
		t.Error("NewOutboxMail accepted a malformed recipient")
	}
}
