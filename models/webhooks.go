package models

import (
	"time"

	"github.com/google/uuid"
)

// Webhook is an endpoint that receives events, signed with its secret
// (Standard Webhooks). The secret is sealed with SECRET_KEY.
type Webhook struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	URL          string    `gorm:"column:url"`
	Events       string    // space-separated event types; "*" for all
	Description  string
	SecretSealed []byte
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Delivery states of a webhook delivery.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is one event for one endpoint: the outbox row, written in
// the transaction of the change, delivered at least once.
type WebhookDelivery struct {
	ID             uuid.UUID `gorm:"primaryKey"`
	WebhookID      uuid.UUID
	EventID        uuid.UUID
	EventType      string
	Payload        string // the event's JSON body, as sent
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	ClaimedUntil   *time.Time
	LastStatusCode *int
	LastError      string
	CreatedAt      time.Time
	DeliveredAt    *time.Time
}
