// Command dino-mcp is an MCP server that lets LLM agents spend money under an operator's
// governance through Dino's /v1 API. Over stdio it is launched by an MCP host such as Claude
// Desktop; all logic lives in the tools and dinoapi packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/mark3labs/mcp-go/server"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/tools"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, getenv envFunc, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseConfig("dino-mcp", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dino-mcp: %v\n", err)
		return 2
	}
	if cfg.version {
		fmt.Fprintf(stdout, "dino-mcp %s\n", dinoapi.Version)
		return 0
	}
	logger := newLogger(cfg, stderr)
	if cfg.sandbox {
		sb, err := startSandbox(cfg, logger, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "dino-mcp: %v\n", err)
			return 1
		}
		defer sb.stop()
	}
	if cfg.serve && cfg.http.KeyFromCaller && cfg.key == "" {
		// Each caller brings its own key and every call uses base.WithKey(callerKey); the base
		// client only carries the connections and settings, and its key is never sent.
		cfg.key = noServerKey
	}
	if err := cfg.requireKey(); err != nil {
		fmt.Fprintf(stderr, "dino-mcp: %v\n", err)
		return 2
	}
	client, err := dinoapi.NewClient(dinoapi.Config{APIKey: cfg.key, BaseURL: cfg.apiURL, Timeout: cfg.requestTimeout, MaxRetries: retriesFlag(cfg.maxRetries)})
	if err != nil {
		fmt.Fprintf(stderr, "dino-mcp: %v\n", err)
		return 2
	}
	if cfg.serve {
		return serveHTTP(cfg, client, logger, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mcpServer := tools.NewServer(tools.Options{Client: tools.StaticClient(client), Policy: cfg.policy, Logger: logger, Abort: ctx})

	// SIGTERM or SIGINT stops reading stdin; calls already running get up to the drain timeout.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	input, stopInput := newStoppableReader(stdin)
	go func() {
		select {
		case s := <-sigs:
			logger.Info().Str("signal", s.String()).Dur("drain_timeout", cfg.drainTimeout).Msg("shutting down: no new requests, draining in-flight calls")
			stopInput()
			drainThenCancel(ctx, cancel, cfg.drainTimeout, sigs)
		case <-ctx.Done():
		}
	}()

	logger.Info().Str("version", dinoapi.Version).Str("api_url", client.BaseURL()).Bool("read_only", cfg.policy.ReadOnly).Msg("dino-mcp serving MCP over stdio")
	stdio := server.NewStdioServer(mcpServer)
	stdio.SetErrorLogger(log.New(logWriter{logger}, "", 0))
	// Enough workers that a few get_spend_status waits (up to 120 s each) never hold up other calls;
	// the queue is bounded, and when it is full mcp-go handles the call inline.
	server.WithWorkerPoolSize(stdioWorkers)(stdio)
	server.WithQueueSize(stdioQueue)(stdio)
	if err := stdio.Listen(ctx, input, stdout); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error().Err(err).Msg("stdio transport stopped")
		return 1
	}
	logger.Info().Msg("dino-mcp stopped")
	return 0
}

// Limits of the stdio transport.
const (
	stdioWorkers = 32
	stdioQueue   = 256
)

// noServerKey stands in for the server's key in --key-from-caller mode, where there is none.
const noServerKey = "no-server-key-callers-bring-their-own"

func retriesFlag(n int) int {
	if n == 0 {
		return dinoapi.NoRetries
	}
	return n
}
