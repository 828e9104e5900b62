package store

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/authsvc/authsvc/models"
)

// ServiceClient is a service client with its secrets (one, or two while a
// rotation overlaps).
type ServiceClient struct {
	models.Client
	Secrets []models.ClientSecret
}

// PermissionList is the client's permissions as a list.
func (c *ServiceClient) PermissionList() []string { return strings.Fields(c.Permissions) }

// LiveSecret is the client's secret whose tokens carry sid, if it is still
// good at now.
func (c *ServiceClient) LiveSecret(sid uuid.UUID, now time.Time) bool {
	for i := range c.Secrets {
		if c.Secrets[i].SID == sid && c.Secrets[i].LiveAt(now) {
			return true
		}
	}
	return false
}

// CreateClient inserts a client and its first secret.
func (s *Store) CreateClient(ctx context.Context, c *models.Client, secret *models.ClientSecret) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.conn(ctx).Create(c).Error; err != nil {
			return err
		}
		return tx.conn(ctx).Create(secret).Error
	})
}

// Clients lists every client by creation, oldest first (without secrets).
func (s *Store) Clients(ctx context.Context) ([]models.Client, error) {
	var list []models.Client
	err := s.conn(ctx).Order("created_at, id").Find(&list).Error
	return list, err
}

// ClientByID loads a client with its secrets.
func (s *Store) ClientByID(ctx context.Context, id uuid.UUID) (*ServiceClient, error) {
	return s.client(ctx, s.conn(ctx), id)
}

// LockClient loads a client with its secrets for a change (locked on PostgreSQL).
func (s *Store) LockClient(ctx context.Context, id uuid.UUID) (*ServiceClient, error) {
	return s.client(ctx, s.forUpdate(s.conn(ctx)), id)
}

func (s *Store) client(ctx context.Context, q *gorm.DB, id uuid.UUID) (*ServiceClient, error) {
	var c ServiceClient
	if err := q.Take(&c.Client, "id = ?", id).Error; err != nil {
		return nil, translate(err)
	}
	if err := s.conn(ctx).Where("client_id = ?", id).Order("created_at, id").Find(&c.Secrets).Error; err != nil {
		return nil, err
	}
	return &c, nil
}

// UpdateClient writes the client's name, description, permissions and
// disabled flag, and has caches forget it.
func (s *Store) UpdateClient(ctx context.Context, c *models.Client) error {
	err := s.conn(ctx).Model(&models.Client{}).Where("id = ?", c.ID).Updates(map[string]any{
		"name": c.Name, "description": c.Description, "permissions": c.Permissions,
		"disabled": c.Disabled, "updated_at": c.UpdatedAt,
	}).Error
	if err != nil {
		return err
	}
	return s.changed(ctx, Change{Clients: []uuid.UUID{c.ID}})
}

// EndClientTokens refuses every token issued to the client so far: each of
// its secrets gets a new sid, and the old ones go to the revocation feed
// until the last token issued under them expires (now + accessTTL).
func (s *Store) EndClientTokens(ctx context.Context, c *ServiceClient, now time.Time, accessTTL time.Duration) error {
	for i := range c.Secrets {
		sec := &c.Secrets[i]
		if err := s.revokeSID(ctx, sec.SID, now, accessTTL); err != nil {
			return err
		}
		sec.SID = uuid.Must(uuid.NewV7())
		if err := s.conn(ctx).Model(&models.ClientSecret{}).Where("id = ?", sec.ID).Update("sid", sec.SID).Error; err != nil {
			return err
		}
	}
	return s.changed(ctx, Change{Clients: []uuid.UUID{c.ID}})
}

// revokeSID lists a service token's sid in the revocation feed.
func (s *Store) revokeSID(ctx context.Context, sid uuid.UUID, now time.Time, accessTTL time.Duration) error {
	return s.conn(ctx).Create(&models.Revocation{SessionID: sid, ExpiresAt: now.Add(accessTTL), CreatedAt: now}).Error
}

// RotateClientSecret adds the client's new secret. The old ones keep working
// until overlapEnd; with none (overlapEnd not after now) they end at once,
// with the tokens issued under them.
func (s *Store) RotateClientSecret(ctx context.Context, c *ServiceClient, next *models.ClientSecret, overlapEnd time.Time, now time.Time, accessTTL time.Duration) error {
	for _, old := range c.Secrets {
		if old.ExpiresAt != nil && !old.ExpiresAt.After(overlapEnd) {
			continue // already ends sooner: a rotation never lengthens an overlap
		}
		q := s.conn(ctx).Where("id = ?", old.ID)
		var err error
		if overlapEnd.After(now) {
			err = q.Model(&models.ClientSecret{}).Update("expires_at", overlapEnd).Error
		} else if err = s.revokeSID(ctx, old.SID, now, accessTTL); err == nil {
			err = q.Delete(&models.ClientSecret{}).Error
		}
		if err != nil {
			return err
		}
	}
	if err := s.conn(ctx).Create(next).Error; err != nil {
		return err
	}
	return s.changed(ctx, Change{Clients: []uuid.UUID{c.ID}})
}

// DeleteClient deletes the client and its secrets, and lists the sids of its
// tokens in the revocation feed. ErrNotFound when there is no such client.
func (s *Store) DeleteClient(ctx context.Context, c *ServiceClient, now time.Time, accessTTL time.Duration) error {
	res := s.conn(ctx).Delete(&models.Client{}, "id = ?", c.ID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	for _, sec := range c.Secrets {
		if err := s.revokeSID(ctx, sec.SID, now, accessTTL); err != nil {
			return err
		}
	}
	return s.changed(ctx, Change{Clients: []uuid.UUID{c.ID}})
}

// EndOverlaps deletes the rotated secrets whose overlap ended by now, and
// lists the sids of their tokens in the revocation feed (their last token
// expires at most accessTTL after the overlap's end). Each instance may call
// it: a secret is deleted, and listed, once.
func (s *Store) EndOverlaps(ctx context.Context, now time.Time, accessTTL time.Duration) error {
	var due []uuid.UUID // a read first: most calls find none, and take no write lock
	err := s.conn(ctx).Model(&models.ClientSecret{}).Where("expires_at IS NOT NULL AND expires_at <= ?", now).
		Limit(1).Pluck("id", &due).Error
	if err != nil || len(due) == 0 {
		return err
	}
	return s.InTx(ctx, func(tx *Store) error {
		var ended []models.ClientSecret
		err := tx.conn(ctx).Raw(`DELETE FROM client_secrets WHERE expires_at IS NOT NULL AND expires_at <= ?
			RETURNING id, client_id, sid, expires_at`, now).Scan(&ended).Error
		if err != nil || len(ended) == 0 {
			return err
		}
		var clients []uuid.UUID
		for _, sec := range ended {
			if err := tx.revokeSID(ctx, sec.SID, *sec.ExpiresAt, accessTTL); err != nil {
				return err
			}
			clients = append(clients, sec.ClientID)
		}
		return tx.changed(ctx, Change{Clients: clients})
	})
}

// TouchClient records a use of the client at now, unless one was recorded
// within the minute before: it reports whether it recorded this one. Across
// instances, only one of them records each minute's use.
func (s *Store) TouchClient(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	res := s.conn(ctx).Model(&models.Client{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, now.Add(-time.Minute)).
		UpdateColumn("last_used_at", now)
	return res.RowsAffected == 1, res.Error
}
