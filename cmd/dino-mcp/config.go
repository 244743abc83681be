package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/dinoapi/sandbox"
	"github.com/dinoid/dino-mcp/tools"
	"github.com/dinoid/dino-mcp/transport"
)

// config is everything dino-mcp reads from flags and the environment. Flags win over the
// environment; the environment wins over defaults.
type config struct {
	key            string
	apiURL         string
	logLevel       string
	logFormat      string
	requestTimeout time.Duration
	maxRetries     int
	drainTimeout   time.Duration
	policy         tools.Policy
	version        bool

	serve bool
	http  transport.Config

	sandbox           bool
	sandboxAddr       string
	sandboxDB         string
	sandboxAdminToken string
}

// errUsage marks a configuration error: exit code 2 and one line on stderr.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// merchantList is a repeatable flag that also takes comma-separated values.
type merchantList []string

func (m *merchantList) String() string { return strings.Join(*m, ",") }
func (m *merchantList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if p := strings.TrimSpace(part); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}

type envFunc func(string) string

// parseConfig reads `dino-mcp [flags]` (stdio) or `dino-mcp serve [flags]` (HTTP).
func parseConfig(name string, args []string, getenv envFunc, stderr io.Writer) (*config, error) {
	cfg := &config{}
	if len(args) > 0 && args[0] == "serve" {
		cfg.serve, args, name = true, args[1:], name+" serve"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var envErr error
	envDur := func(k string, def time.Duration) time.Duration {
		v := getenv(k)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			envErr = errors.Join(envErr, usagef("%s=%q is not a positive duration such as 30s", k, v))
			return def
		}
		return d
	}
	envInt := func(k string, def int64) int64 {
		v := getenv(k)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			envErr = errors.Join(envErr, usagef("%s=%q is not a whole number of at least 0", k, v))
			return def
		}
		return n
	}
	envBool := func(k string) bool {
		v := getenv(k)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErr = errors.Join(envErr, usagef("%s=%q is not true or false", k, v))
		}
		return b
	}
	envOr := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}

	fs.StringVar(&cfg.apiURL, "api-url", envOr("DINO_API_URL", dinoapi.DefaultBaseURL), "Dino API origin (env DINO_API_URL); plain http only to loopback")
	keyFile := fs.String("spend-key-file", getenv("DINO_SPEND_KEY_FILE"), "read the spending key from this file instead of DINO_SPEND_KEY (env DINO_SPEND_KEY_FILE)")
	fs.StringVar(&cfg.logLevel, "log-level", envOr("DINO_LOG_LEVEL", "info"), "debug, info, warn or error (env DINO_LOG_LEVEL); logs go to stderr")
	fs.StringVar(&cfg.logFormat, "log-format", envOr("DINO_LOG_FORMAT", "json"), "json or console (env DINO_LOG_FORMAT)")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", envDur("DINO_REQUEST_TIMEOUT", dinoapi.DefaultTimeout), "timeout of each HTTP attempt to Dino (env DINO_REQUEST_TIMEOUT)")
	maxRetries := fs.Int64("max-retries", envInt("DINO_MAX_RETRIES", dinoapi.DefaultMaxRetries), fmt.Sprintf("retries of a failed request, 0 to %d (env DINO_MAX_RETRIES)", dinoapi.MaxRetriesLimit))
	fs.DurationVar(&cfg.drainTimeout, "drain-timeout", envDur("DINO_DRAIN_TIMEOUT", 10*time.Second), "on SIGTERM, how long in-flight tool calls may run before exit (env DINO_DRAIN_TIMEOUT)")
	fs.BoolVar(&cfg.policy.ReadOnly, "read-only", envBool("DINO_READ_ONLY"), "register only get_spend_status and get_balance (env DINO_READ_ONLY)")
	maxAmount := fs.Int64("max-amount-cents", envInt("DINO_MAX_AMOUNT_CENTS", 0), "refuse locally any request_spend above this many cents; 0 means no local cap (env DINO_MAX_AMOUNT_CENTS)")
	var merchants merchantList
	_ = merchants.Set(getenv("DINO_ALLOWED_MERCHANTS"))
	fs.Var(&merchants, "allow-merchant", "refuse locally any merchant not listed; repeatable or comma-separated (env DINO_ALLOWED_MERCHANTS)")
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.BoolVar(&cfg.sandbox, "sandbox", envBool("DINO_SANDBOX"), "run against the local Dino sandbox, started in-process unless one already serves --sandbox-addr (env DINO_SANDBOX)")
	fs.StringVar(&cfg.sandboxAddr, "sandbox-addr", envOr("DINO_SANDBOX_ADDR", sandbox.DefaultAddr), "address of the sandbox (env DINO_SANDBOX_ADDR)")
	fs.StringVar(&cfg.sandboxDB, "sandbox-db", envOr("DINO_SANDBOX_DB", sandbox.DefaultDBPath()), "sandbox database file (env DINO_SANDBOX_DB)")
	fs.StringVar(&cfg.sandboxAdminToken, "sandbox-admin-token", getenv("DINO_SANDBOX_ADMIN_TOKEN"), "admin token of an in-process sandbox; random when empty (env DINO_SANDBOX_ADMIN_TOKEN)")

	var callerTokens, origins, hosts merchantList
	var tokensFile *string
	var maxBody, maxSessions *int64
	if cfg.serve {
		fs.StringVar(&cfg.http.Transport, "transport", envOr("DINO_MCP_TRANSPORT", transport.StreamableHTTP), "http (Streamable HTTP at /mcp) or sse (/sse and /message) (env DINO_MCP_TRANSPORT)")
		fs.StringVar(&cfg.http.Addr, "addr", envOr("DINO_MCP_ADDR", transport.DefaultAddr), "listen address (env DINO_MCP_ADDR)")
		fs.BoolVar(&cfg.http.Stateless, "stateless", envBool("DINO_MCP_STATELESS"), "Streamable HTTP without sessions, for replicas behind a plain load balancer (env DINO_MCP_STATELESS)")
		fs.BoolVar(&cfg.http.KeyFromCaller, "key-from-caller", envBool("DINO_MCP_KEY_FROM_CALLER"), "each caller's bearer token is its own Dino spending key (env DINO_MCP_KEY_FROM_CALLER)")
		_ = callerTokens.Set(getenv("DINO_MCP_CALLER_TOKENS"))
		fs.Var(&callerTokens, "caller-token", "a bearer token callers must present; repeatable (env DINO_MCP_CALLER_TOKENS, comma-separated)")
		tokensFile = fs.String("caller-tokens-file", getenv("DINO_MCP_CALLER_TOKENS_FILE"), "file with one caller token per line (env DINO_MCP_CALLER_TOKENS_FILE)")
		fs.BoolVar(&cfg.http.InsecureNoAuth, "insecure-no-auth", envBool("DINO_MCP_INSECURE_NO_AUTH"), "serve with no caller authentication (logged as a warning)")
		_ = origins.Set(getenv("DINO_MCP_ALLOWED_ORIGINS"))
		fs.Var(&origins, "allowed-origin", "an Origin accepted besides loopback origins; repeatable, * for any (env DINO_MCP_ALLOWED_ORIGINS)")
		_ = hosts.Set(getenv("DINO_MCP_ALLOWED_HOSTS"))
		fs.Var(&hosts, "allowed-host", "a Host header accepted besides loopback and the bind address, e.g. behind a proxy; repeatable (env DINO_MCP_ALLOWED_HOSTS)")
		maxBody = fs.Int64("max-body-bytes", envInt("DINO_MCP_MAX_BODY_BYTES", transport.DefaultMaxBodyBytes), "largest request body accepted; larger gets 413")
		maxSessions = fs.Int64("max-sessions", envInt("DINO_MCP_MAX_SESSIONS", transport.DefaultMaxSessions), "most concurrent sessions; more get 503")
		fs.DurationVar(&cfg.http.SessionIdleTimeout, "session-idle-timeout", envDur("DINO_MCP_SESSION_IDLE_TIMEOUT", transport.DefaultSessionIdleTimeout), "reap sessions idle this long")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q; see --help", fs.Arg(0))
	}
	if envErr != nil {
		return nil, envErr
	}
	if cfg.version {
		return cfg, nil
	}
	if *maxRetries > dinoapi.MaxRetriesLimit {
		return nil, usagef("--max-retries %d is above the limit of %d", *maxRetries, dinoapi.MaxRetriesLimit)
	}
	cfg.maxRetries = int(*maxRetries)
	if *maxAmount < 0 {
		return nil, usagef("--max-amount-cents must be 0 (no cap) or a positive number of cents")
	}
	cfg.policy.MaxAmountCents = *maxAmount
	cfg.policy.MerchantAllowlist = merchants
	if _, err := zerolog.ParseLevel(cfg.logLevel); err != nil || cfg.logLevel == "" {
		return nil, usagef("--log-level %q must be debug, info, warn or error", cfg.logLevel)
	}
	if cfg.logFormat != "json" && cfg.logFormat != "console" {
		return nil, usagef("--log-format %q must be json or console", cfg.logFormat)
	}
	if _, err := dinoapi.ParseBaseURL(cfg.apiURL); err != nil {
		return nil, usagef("%s", strings.TrimPrefix(err.Error(), "dino api: "))
	}
	if cfg.serve {
		if *tokensFile != "" {
			b, err := os.ReadFile(*tokensFile)
			if err != nil {
				return nil, usagef("cannot read --caller-tokens-file: %v", err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
					callerTokens = append(callerTokens, t)
				}
			}
		}
		cfg.http.CallerTokens, cfg.http.AllowedOrigins, cfg.http.AllowedHosts = callerTokens, origins, hosts
		cfg.http.MaxBodyBytes, cfg.http.MaxSessions, cfg.http.DrainTimeout = *maxBody, int(*maxSessions), cfg.drainTimeout
		if err := cfg.http.Validate(); err != nil {
			return nil, usagef("%v", err)
		}
	}
	cfg.key = getenv("DINO_SPEND_KEY")
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return nil, usagef("cannot read the spending key file: %v", err)
		}
		cfg.key = strings.TrimSpace(string(b))
	}
	return cfg, nil
}

// requireKey checks the spending key; its message never contains the key.
func (c *config) requireKey() error {
	if c.key == "" {
		return usagef("no spending key: set DINO_SPEND_KEY to the Dino spending key the operator issued (or DINO_SPEND_KEY_FILE to a file holding it)")
	}
	if err := dinoapi.CheckKey(c.key); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "dino api: "))
	}
	return nil
}

func newLogger(c *config, w io.Writer) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(c.logLevel)
	var out io.Writer = w
	if c.logFormat == "console" {
		out = zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: time.RFC3339}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Str("service", "dino-mcp").Logger()
}
