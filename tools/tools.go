// Package tools defines dino-mcp's MCP tools — request_spend, get_spend_status and get_balance —
// and turns dinoapi results into tool results. It knows MCP; dinoapi knows HTTP.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// Tool names.
const (
	RequestSpend   = "request_spend"
	GetSpendStatus = "get_spend_status"
	GetBalance     = "get_balance"
)

// MaxArgumentBytes caps the arguments of one tool call; the largest valid request_spend is far
// smaller (a 1000-character reason and a 200-character merchant).
const MaxArgumentBytes = 16 << 10

// ClientFunc returns the /v1 client for the caller behind ctx. A server with one spending key
// returns the same client every time; a gateway returns the caller's own.
type ClientFunc func(ctx context.Context) (*dinoapi.Client, error)

// StaticClient is a ClientFunc that always returns c.
func StaticClient(c *dinoapi.Client) ClientFunc {
	return func(context.Context) (*dinoapi.Client, error) { return c, nil }
}

// Policy is the operator's local guardrails: refusals made inside dino-mcp before any request
// leaves the process. Dino governs spending; this is defence in depth.
type Policy struct {
	// ReadOnly registers only the get_ tools.
	ReadOnly bool
	// MaxAmountCents refuses a request_spend above this amount; 0 means no local cap.
	MaxAmountCents int64
	// MerchantAllowlist, when not empty, refuses merchants not on it (compared case-insensitively,
	// ignoring surrounding spaces).
	MerchantAllowlist []string
}

// Options wires the tools.
type Options struct {
	// Client gives the /v1 client for a call. Required.
	Client ClientFunc
	// Policy holds the local guardrails.
	Policy Policy
	// Logger gets one line per tool call. It never receives a key.
	Logger zerolog.Logger
	// NewIdempotencyKey mints the key of a request_spend that did not bring one (default: a UUID).
	NewIdempotencyKey func() string
	// CallTimeout bounds one tool call, retries included (default 2 minutes).
	CallTimeout time.Duration
	// Abort, when done, cancels every call still running. A call is otherwise detached from its
	// request's cancellation: once a spend request has left, it runs to its answer (bounded by
	// CallTimeout) even if the client goes away, so no decision is abandoned half way. Servers
	// cancel Abort when their shutdown drain time runs out.
	Abort context.Context
	// PollInterval is how often get_spend_status re-reads a pending request while it waits
	// (default 1s).
	PollInterval time.Duration
	// ElicitationTimeout bounds how long dino-mcp waits for a client to answer the URL
	// elicitation that offers to open an approval_url (default 10 minutes). The answer never
	// approves anything; it is only logged.
	ElicitationTimeout time.Duration
}

// DefaultCallTimeout bounds one tool call when Options.CallTimeout is zero.
const DefaultCallTimeout = 2 * time.Minute

// New returns the tools for opts, ready for server.MCPServer.AddTools. With Policy.ReadOnly only
// the two get_ tools are returned.
func New(opts Options) []server.ServerTool {
	if opts.NewIdempotencyKey == nil {
		opts.NewIdempotencyKey = uuid.NewString
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.ElicitationTimeout <= 0 {
		opts.ElicitationTimeout = 10 * time.Minute
	}
	h := &handlers{opts: opts}
	var out []server.ServerTool
	if !opts.Policy.ReadOnly {
		out = append(out, server.ServerTool{Tool: requestSpendTool(), Handler: h.wrap(RequestSpend, h.requestSpend)})
	}
	out = append(out,
		server.ServerTool{Tool: getSpendStatusTool(), Handler: h.wrap(GetSpendStatus, h.getSpendStatus)},
		server.ServerTool{Tool: getBalanceTool(), Handler: h.wrap(GetBalance, h.getBalance)},
	)
	return out
}

type handlers struct {
	opts     Options
	elicited elicited
}

// outcome is what a handler reports for the call's log line.
type outcome struct {
	spendID  string
	status   string
	code     string
	attempts int
}

// toolCall is what a handler gets besides its detached context.
type toolCall struct {
	args json.RawMessage
	req  mcp.CallToolRequest
	// cancelled is closed when the client cancels the request or goes away. Only waiting
	// (get_spend_status's wait_seconds) listens to it; a request to Dino always runs to its answer.
	cancelled <-chan struct{}
	oc        *outcome
}

type handlerFunc func(ctx context.Context, call *toolCall) *mcp.CallToolResult

// wrap gives every tool the same shell: bounded arguments, a deadline, panic containment and
// one log line. A handler never returns a Go error, so nothing becomes a JSON-RPC error.
func (h *handlers) wrap(name string, fn handlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, _ error) {
		start := time.Now()
		var oc outcome
		defer func() {
			if p := recover(); p != nil {
				// The panic value is not logged: it could hold anything, a key included.
				h.opts.Logger.Error().Str("tool", name).Str("stack", string(debug.Stack())).Msg("tool handler panicked")
				res = errorResult(errorInfo{Code: "internal_error", Message: "dino-mcp hit an internal error handling this call.",
					NextStep: "Nothing is known about the outcome. For request_spend, call it again with the same arguments and idempotency_key to learn it; it will not spend twice."})
				oc.code = "internal_error"
			}
			ev := h.opts.Logger.Info()
			if res != nil && res.IsError {
				ev = h.opts.Logger.Warn()
			}
			if s := server.ClientSessionFromContext(ctx); s != nil {
				ev = ev.Str("session", s.SessionID())
			}
			ev.Str("tool", name).Str("spend_id", oc.spendID).Str("status", oc.status).Str("error_code", oc.code).
				Int("attempts", oc.attempts).Dur("latency", time.Since(start)).Msg("tool call")
		}()
		args, err := rawArguments(req)
		if err != nil {
			oc.code = "invalid_arguments"
			return invalidArguments(err.Error()), nil
		}
		cancelled := ctx.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.CallTimeout)
		defer cancel()
		if h.opts.Abort != nil {
			stop := context.AfterFunc(h.opts.Abort, cancel)
			defer stop()
		}
		return fn(ctx, &toolCall{args: args, req: req, cancelled: cancelled, oc: &oc}), nil
	}
}

// rawArguments returns the call's arguments as exact JSON (integers above 2^53 keep their
// digits), "{}" when there are none.
func rawArguments(req mcp.CallToolRequest) (json.RawMessage, error) {
	var raw []byte
	switch v := req.GetRawArguments().(type) {
	case json.RawMessage:
		raw = v
	case nil:
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("arguments could not be read: %v", err)
		}
		raw = b
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if len(raw) > MaxArgumentBytes {
		return nil, fmt.Errorf("arguments are %d bytes; the limit is %d", len(raw), MaxArgumentBytes)
	}
	if raw[0] != '{' {
		return nil, errors.New("arguments must be a JSON object")
	}
	return raw, nil
}

func (h *handlers) client(ctx context.Context) (*dinoapi.Client, *mcp.CallToolResult) {
	c, err := h.opts.Client(ctx)
	if err != nil || c == nil {
		msg := "no spending key is available for this caller"
		if err != nil {
			msg = err.Error()
		}
		return nil, errorResult(errorInfo{Code: dinoapi.CodeInvalidAPIKey, Message: msg,
			NextStep: "This is a configuration problem that retrying cannot fix: tell the operator that dino-mcp has no valid Dino spending key for you."})
	}
	return c, nil
}

// decodeStrict decodes validated arguments into dst, keeping integers exact.
func decodeStrict(raw json.RawMessage, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

func merchantKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
