package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheck asks the local service's /healthz: for container HEALTHCHECKs on
// images without curl.
func healthcheck(ctx context.Context, args []string, env Env) error {
	fs := flags("healthcheck", "healthcheck   (exit 0 when the service on HTTP_ADDR answers /healthz)", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(env)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: /healthz answered %d", res.StatusCode)
	}
	return nil
}
