// Package transport serves the dino-mcp tools over HTTP: Streamable HTTP (/mcp) and the
// 2024-11-05 HTTP+SSE transport (/sse and /message). It owns the HTTP safety around them —
// Host and Origin checks, caller authentication, body caps, session caps and idle reaping,
// per-agent keys bound to sessions — and a graceful shutdown that lets tool calls finish.
package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/tools"
)

// Transports.
const (
	StreamableHTTP = "http"
	SSE            = "sse"
)

// Defaults and limits of the HTTP surface.
const (
	DefaultAddr               = "127.0.0.1:8080"
	DefaultMaxBodyBytes       = 256 << 10
	DefaultMaxSessions        = 1000
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultDrainTimeout       = 10 * time.Second
	// MinCallerTokenLen keeps caller tokens long enough not to be guessed.
	MinCallerTokenLen = 16
	// flushGrace lets the SSE writer send the answers of the last calls before streams close.
	flushGrace = 250 * time.Millisecond
)

// Config configures the HTTP server.
type Config struct {
	// Transport is StreamableHTTP or SSE.
	Transport string
	// Addr is the listen address; DefaultAddr when empty.
	Addr string
	// Stateless runs Streamable HTTP without sessions, so replicas need no sticky routing.
	Stateless bool
	// KeyFromCaller makes each caller's bearer token its own Dino spending key.
	KeyFromCaller bool
	// CallerTokens are the bearer tokens callers must present when the server holds the key.
	CallerTokens []string
	// InsecureNoAuth allows serving with no caller authentication (logged as a warning).
	InsecureNoAuth bool
	// AllowedOrigins lists Origin values accepted besides loopback origins ("*" accepts all).
	AllowedOrigins []string
	// AllowedHosts lists Host values accepted besides loopback hosts and the bind address.
	AllowedHosts       []string
	MaxBodyBytes       int64
	MaxSessions        int
	SessionIdleTimeout time.Duration
	DrainTimeout       time.Duration
	// APIURL is probed by /readyz (GET /v1/balance with no key: any HTTP answer is ready).
	APIURL string
}

// Server is a running HTTP transport.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	base     *dinoapi.Client
	mcp      *server.MCPServer
	sse      *server.SSEServer
	http     *server.StreamableHTTPServer
	srv      *http.Server
	ln       net.Listener
	sessions *sessionTable
	inflight sync.WaitGroup
	calls    atomic.Int64
	abort    context.CancelFunc
	done     chan error
}

type ctxKey int

const callerKeyCtx ctxKey = iota

// CallerKey returns the spending key the caller presented (key-from-caller mode).
func CallerKey(ctx context.Context) string {
	k, _ := ctx.Value(callerKeyCtx).(string)
	return k
}

// Validate checks a configuration before anything binds. Its errors name the flag to change.
func (c *Config) Validate() error {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	switch c.Transport {
	case StreamableHTTP, SSE:
	case "":
		c.Transport = StreamableHTTP
	default:
		return fmt.Errorf("--transport %q must be http (Streamable HTTP) or sse", c.Transport)
	}
	if c.Stateless && c.Transport != StreamableHTTP {
		return errors.New("--stateless applies to --transport http only; SSE sessions are stateful by design")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q must be host:port, such as 127.0.0.1:8080", c.Addr)
	}
	for _, t := range c.CallerTokens {
		if len(t) < MinCallerTokenLen {
			return fmt.Errorf("caller tokens must be at least %d characters", MinCallerTokenLen)
		}
	}
	if c.KeyFromCaller && len(c.CallerTokens) > 0 {
		return errors.New("--key-from-caller and --caller-token exclude each other: with --key-from-caller the caller's bearer token is its Dino spending key")
	}
	if !c.KeyFromCaller && len(c.CallerTokens) == 0 && !c.InsecureNoAuth {
		if !dinoapi.IsLoopbackHost(host) {
			return fmt.Errorf("refusing to serve %s (not loopback) with no caller authentication: set --caller-token (or DINO_MCP_CALLER_TOKENS), use --key-from-caller, or pass --insecure-no-auth", c.Addr)
		}
		return errors.New("no caller authentication: set --caller-token (or DINO_MCP_CALLER_TOKENS / --caller-tokens-file), use --key-from-caller, or pass --insecure-no-auth to let any local process spend with this server's key")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.SessionIdleTimeout <= 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return fmt.Errorf("--allowed-origin %q must look like https://app.example.com", o)
		}
	}
	return nil
}

// Start builds the MCP server for opts, binds cfg.Addr and serves. base is the /v1 client;
// in key-from-caller mode each call uses base.WithKey(the caller's key).
func Start(cfg Config, base *dinoapi.Client, opts tools.Options, logger zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: logger, base: base, sessions: newSessionTable(cfg.MaxSessions), done: make(chan error, 1)}
	abortCtx, abort := context.WithCancel(context.Background())
	s.abort = abort
	opts.Abort = abortCtx
	if cfg.KeyFromCaller {
		opts.Client = func(ctx context.Context) (*dinoapi.Client, error) {
			k := CallerKey(ctx)
			if k == "" {
				return nil, errors.New("this call carries no spending key")
			}
			return base.WithKey(k)
		}
	} else if opts.Client == nil {
		opts.Client = tools.StaticClient(base)
	}
	// Count tool calls in flight, so shutdown can wait for them.
	counting := server.WithToolHandlerMiddleware(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			s.inflight.Add(1)
			s.calls.Add(1)
			defer s.calls.Add(-1)
			defer s.inflight.Done()
			return next(ctx, req)
		}
	})
	s.mcp = tools.NewServer(opts, counting)
	withKey := func(ctx context.Context, r *http.Request) context.Context {
		if tok, ok := bearer(r); ok && cfg.KeyFromCaller {
			return context.WithValue(ctx, callerKeyCtx, tok)
		}
		return ctx
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "service": "dino-mcp", "transport": cfg.Transport, "calls_in_flight": s.calls.Load(), "sessions": s.sessions.count()})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	switch cfg.Transport {
	case SSE:
		s.sse = server.NewSSEServer(s.mcp,
			server.WithSSEContextFunc(withKey),
			server.WithSessionIDGenerator(s.sessions.sseID),
			server.WithKeepAliveInterval(25*time.Second),
			server.WithSSEDisableLocalhostProtection(true), // our own Host check runs first and knows the allowlist
		)
		mux.Handle("/sse", s.guard(s.sse.SSEHandler(), sseStream))
		mux.Handle("/message", s.guard(s.sse.MessageHandler(), sseMessage))
	default:
		hopts := []server.StreamableHTTPOption{
			server.WithEndpointPath("/mcp"),
			server.WithHTTPContextFunc(withKey),
			server.WithStateLess(cfg.Stateless),
			server.WithDisableLocalhostProtection(true),
			server.WithHeartbeatInterval(25 * time.Second),
		}
		if !cfg.Stateless {
			hopts = append(hopts, server.WithSessionIdleTTL(cfg.SessionIdleTimeout))
		}
		s.http = server.NewStreamableHTTPServer(s.mcp, hopts...)
		mux.Handle("/mcp", s.guard(s.http, streamable))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", "no such endpoint; MCP is served at "+map[string]string{SSE: "/sse", StreamableHTTP: "/mcp"}[cfg.Transport])
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		abort()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.hostCheck(mux),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: SSE streams live for hours. Bodies are read under a
		// per-request deadline in guard instead, and idle keep-alive connections are closed.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
	go s.sessions.reap(abortCtx, cfg.SessionIdleTimeout, logger)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	if cfg.InsecureNoAuth && !cfg.KeyFromCaller && len(cfg.CallerTokens) == 0 {
		logger.Warn().Str("addr", ln.Addr().String()).Msg("--insecure-no-auth: any caller that reaches this address can spend with this server's Dino key")
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting connections, lets tool calls in flight finish within the drain
// timeout, closes the remaining streams and returns. It is what SIGTERM runs.
func (s *Server) Shutdown() error {
	s.log.Info().Int64("calls_in_flight", s.calls.Load()).Dur("drain_timeout", s.cfg.DrainTimeout).Msg("shutting down: no new connections, draining tool calls")
	shut := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout+2*time.Second)
	defer cancel()
	go func() { shut <- s.srv.Shutdown(ctx) }() // closes the listener at once
	drained := make(chan struct{})
	go func() { s.inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(s.cfg.DrainTimeout):
		s.log.Warn().Int64("calls_in_flight", s.calls.Load()).Msg("drain timeout: cancelling the calls still running")
		s.abort()
		<-drained
	}
	time.Sleep(flushGrace)
	s.abort()
	if s.sse != nil {
		s.sse.CloseSessions()
	}
	if s.http != nil {
		s.http.CloseSessions(ctx)
	}
	err := <-shut
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.base.BaseURL(), "/")+"/v1/balance", nil)
	if err == nil {
		var res *http.Response
		if res, err = http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode >= 500 {
				err = fmt.Errorf("HTTP %d", res.StatusCode)
			}
		}
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "api_url": s.base.BaseURL(), "error": "Dino /v1 is not reachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true, "api_url": s.base.BaseURL()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}

func hashToken(t string) [32]byte { return sha256.Sum256([]byte(t)) }

// hostCheck refuses a Host that is neither loopback, the bind address, nor on the allowlist:
// the DNS-rebinding defence the MCP transport spec asks for.
func (s *Server) hostCheck(next http.Handler) http.Handler {
	bindHost, _, _ := net.SplitHostPort(s.cfg.Addr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		ok := dinoapi.IsLoopbackHost(host) || (host == bindHost && bindHost != "" && bindHost != "0.0.0.0" && bindHost != "::")
		for _, a := range s.cfg.AllowedHosts {
			if strings.EqualFold(a, host) || strings.EqualFold(a, r.Host) {
				ok = true
			}
		}
		if !ok {
			writeErr(w, http.StatusForbidden, "forbidden_host", fmt.Sprintf("Host %q is not allowed; add it with --allowed-host", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) originAllowed(origin string) bool {
	if origin == "" {
		return true // not a browser, or a same-origin navigation: nothing to check
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && dinoapi.IsLoopbackHost(u.Hostname())
}

type endpoint int

const (
	streamable endpoint = iota
	sseStream
	sseMessage
)

// guard runs, in order: Origin check (403), caller authentication (401), the body cap (413)
// and the session rules (cap, key binding, idle tracking), then the MCP transport.
func (s *Server) guard(next http.Handler, kind endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.originAllowed(r.Header.Get("Origin")) {
			writeErr(w, http.StatusForbidden, "forbidden_origin", fmt.Sprintf("Origin %q is not allowed; add it with --allowed-origin", r.Header.Get("Origin")))
			return
		}
		tok, ok := bearer(r)
		switch {
		case s.cfg.KeyFromCaller:
			if !ok || dinoapi.CheckKey(tok) != nil {
				s.unauthorized(w, "send your Dino spending key as Authorization: Bearer <key>")
				return
			}
		case len(s.cfg.CallerTokens) > 0:
			if !ok || !s.tokenOK(tok) {
				s.unauthorized(w, "send a caller token of this server as Authorization: Bearer <token>")
				return
			}
		}
		if r.Body != nil && r.Method == http.MethodPost {
			if r.ContentLength > s.cfg.MaxBodyBytes {
				writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes))
				return
			}
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Second))
			body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
			if err != nil {
				writeErr(w, http.StatusBadRequest, "bad_body", "the request body could not be read")
				return
			}
			if int64(len(body)) > s.cfg.MaxBodyBytes {
				writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes))
				return
			}
			_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		keyHash := hashToken(tok)
		switch kind {
		case sseStream:
			s.sessions.serveSSE(w, r, keyHash, next)
		case sseMessage:
			id := r.URL.Query().Get("sessionId")
			if status, msg := s.sessions.check(id, keyHash); status != 0 {
				writeErr(w, status, "session_rejected", msg)
				return
			}
			next.ServeHTTP(w, r)
		default:
			if s.cfg.Stateless {
				next.ServeHTTP(w, r)
				return
			}
			s.sessions.serveStreamable(w, r, keyHash, next)
		}
	})
}

func (s *Server) tokenOK(tok string) bool {
	good := 0
	for _, t := range s.cfg.CallerTokens {
		good |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
	}
	return good == 1
}

func (s *Server) unauthorized(w http.ResponseWriter, how string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="dino-mcp"`)
	writeErr(w, http.StatusUnauthorized, "unauthorized", "missing or wrong credential: "+how)
}
