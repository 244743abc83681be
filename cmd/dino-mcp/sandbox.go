package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi/sandbox"
)

type runningSandbox struct {
	stop func()
}

// startSandbox points cfg at a Dino sandbox: one already serving at --sandbox-addr, or one started
// in this process with the demo data. Without DINO_SPEND_KEY the demo key is used, so a new user
// needs no configuration at all.
func startSandbox(cfg *config, logger zerolog.Logger, stderr io.Writer) (*runningSandbox, error) {
	if cfg.key == "" {
		cfg.key = sandbox.DemoKey
	}
	existing := "http://" + cfg.sandboxAddr
	if sandbox.Probe(context.Background(), existing) {
		cfg.apiURL = existing
		logger.Info().Str("sandbox", existing).Msg("using the Dino sandbox already serving there")
		fmt.Fprintf(stderr, "dino-mcp: using the Dino sandbox already serving at %s\n  dashboard: %s/agents/approvals\n", existing, existing)
		return &runningSandbox{stop: func() {}}, nil
	}
	run, err := sandbox.Start(context.Background(), sandbox.Options{DBPath: cfg.sandboxDB, Addr: cfg.sandboxAddr, AdminToken: cfg.sandboxAdminToken,
		RatePerSecond: sandbox.DefaultRatePerSecond, RateBurst: sandbox.DefaultRateBurst, Logger: logger.With().Str("component", "sandbox").Logger(), SeedDemo: true})
	if err != nil {
		return nil, fmt.Errorf("cannot start the sandbox: %w (is something else on %s? pass --sandbox-addr)", err, cfg.sandboxAddr)
	}
	cfg.apiURL = run.URL
	logger.Info().Str("sandbox", run.URL).Str("db", cfg.sandboxDB).Msg("started the Dino sandbox in-process")
	fmt.Fprintf(stderr, "dino-mcp: Dino sandbox at %s (database %s)\n  dashboard:   %s/agents/approvals\n  admin API:   %s/admin/v1/\n  admin token: %s\n",
		run.URL, cfg.sandboxDB, run.URL, run.URL, run.AdminToken)
	return &runningSandbox{stop: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := run.Shutdown(ctx); err != nil {
			logger.Warn().Err(err).Msg("sandbox shutdown")
		}
	}}, nil
}
