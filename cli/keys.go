package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/authsvc/authsvc/app"
)

func keysCmd(ctx context.Context, args []string, env Env) error {
	if len(args) != 1 || (args[0] != "rotate" && args[0] != "list") {
		if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(env.Stdout, "Usage: authsvc keys rotate|list\n  rotate: the next key starts signing, the current one only verifies until its tokens expire\n  list:   every key with its state")
			return nil
		}
		return fmt.Errorf("%w: authsvc keys rotate|list", errUsage)
	}
	cfg, log, st, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := app.SecretKey(cfg)
	if err != nil {
		return err
	}
	km := app.NewKeys(st.Store, key, cfg, env.Now, log)
	if err := km.Ensure(ctx); err != nil {
		return err
	}
	if args[0] == "rotate" {
		cur, err := km.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "rotated: %s (%s) now signs\n", cur.KID, cur.Alg)
		return nil
	}
	list, err := km.List(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%-44s %-6s %-9s %-20s %s\n", "KID", "ALG", "STATE", "CREATED", "RETIRE AFTER")
	for _, k := range list {
		retire := "-"
		if k.RetireAfter != nil {
			retire = k.RetireAfter.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(env.Stdout, "%-44s %-6s %-9s %-20s %s\n", k.KID, k.Alg, k.State, k.CreatedAt.UTC().Format(time.RFC3339), retire)
	}
	return nil
}
