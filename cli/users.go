package cli

import (
	"context"
	"fmt"

	"github.com/authsvc/authsvc/config"
	"github.com/authsvc/authsvc/password"
)

func policyFor(cfg config.Config) password.Policy {
	return password.Policy{MinScore: cfg.PasswordMinScore}
}

func users(ctx context.Context, args []string, env Env) error {
	return fmt.Errorf("%w: authsvc users list|set-role", errUsage)
}
