package handlers

import (
	"context"

	"github.com/authsvc/authsvc/middleware"
	"github.com/authsvc/authsvc/models"
	"github.com/authsvc/authsvc/policy"
	"github.com/authsvc/authsvc/problem"
)

// bearer is who a live bearer token speaks for, as gateways are told
// (introspection, forward auth): a user, with the account's current grants;
// a personal token's user, with the permissions both hold and no role; or a
// service client (no account), with what was granted and it still holds.
type bearer struct {
	policy.Principal
	cred *middleware.Credential
}

// bearerOf is the bearer of a verified credential; ErrRevoked when its
// account is gone or not active (only an active account's token is live).
func bearerOf(ctx context.Context, live *middleware.Live, cred *middleware.Credential) (*bearer, error) {
	p, err := live.Principal(ctx, cred)
	if err != nil {
		return nil, err
	}
	if p.Account != nil && p.Account.Status != models.StatusActive {
		return nil, problem.ErrRevoked
	}
	return &bearer{Principal: p, cred: cred}, nil
}

// roles are the account's roles; a scoped bearer (personal or service token) holds none.
func (b *bearer) roles() []string {
	if b.Scoped || b.Account == nil {
		return []string{}
	}
	return b.Account.Roles
}
