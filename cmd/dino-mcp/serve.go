package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/tools"
	"github.com/dinoid/dino-mcp/transport"
)

// serveHTTP runs `dino-mcp serve` until SIGTERM or SIGINT, then drains and exits 0.
func serveHTTP(cfg *config, client *dinoapi.Client, logger zerolog.Logger, stderr io.Writer) int {
	srv, err := transport.Start(cfg.http, client, tools.Options{Policy: cfg.policy, Logger: logger}, logger)
	if err != nil {
		fmt.Fprintf(stderr, "dino-mcp: %v\n", err)
		return 1
	}
	path := map[string]string{transport.SSE: "/sse", transport.StreamableHTTP: "/mcp"}[cfg.http.Transport]
	mode := "server key, caller tokens required"
	switch {
	case cfg.http.KeyFromCaller:
		mode = "per-agent keys (the bearer token is the caller's Dino spending key)"
	case cfg.http.InsecureNoAuth && len(cfg.http.CallerTokens) == 0:
		mode = "server key, NO caller authentication"
	}
	logger.Info().Str("url", "http://"+srv.Addr()+path).Str("transport", cfg.http.Transport).Bool("stateless", cfg.http.Stateless).
		Str("auth", mode).Str("api_url", client.BaseURL()).Msg("dino-mcp serving MCP over HTTP")
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	<-sigs
	if err := srv.Shutdown(); err != nil {
		logger.Error().Err(err).Msg("shutdown")
		return 1
	}
	logger.Info().Msg("dino-mcp stopped")
	return 0
}
