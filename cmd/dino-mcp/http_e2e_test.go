package main_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/internal/e2e"
)

const callerToken = "caller_token_for_e2e_0123456789"

type httpServer struct {
	p    *e2e.Proc
	base string // http://127.0.0.1:port
	kind string // http or sse
}

func startHTTP(t testing.TB, kind, upstream string, args []string, env ...string) *httpServer {
	t.Helper()
	addr := e2e.FreeAddr(t)
	full := append([]string{"serve", "--transport", kind, "--addr", addr}, args...)
	p := e2e.Start(t, e2e.Build(t, "dino-mcp"), full, append([]string{"DINO_API_URL=" + upstream, "DINO_LOG_LEVEL=debug"}, env...)...)
	base := "http://" + addr
	e2e.WaitFor(t, 60*time.Second, "dino-mcp serve to answer /healthz", func() bool {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	return &httpServer{p: p, base: base, kind: kind}
}

// mcpClient connects with mcp-go's own client package over the server's transport.
func (h *httpServer) mcpClient(t *testing.T, bearerToken string) *client.Client {
	return h.mcpClientTB(t, bearerToken)
}

func (h *httpServer) mcpClientTB(t testing.TB, bearerToken string) *client.Client {
	t.Helper()
	headers := map[string]string{"Authorization": "Bearer " + bearerToken}
	var c *client.Client
	var err error
	if h.kind == "sse" {
		c, err = client.NewSSEMCPClient(h.base+"/sse", transport.WithHeaders(headers), transport.WithSSELogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	} else {
		c, err = client.NewStreamableHttpClient(h.base+"/mcp", transport.WithHTTPHeaders(headers))
	}
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-http", Version: "1"}
	_, err = c.Initialize(ctx, init)
	require.NoError(t, err)
	return c
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(context.Background(), req)
	require.NoError(t, err)
	return res
}

func structured(t *testing.T, r *mcp.CallToolResult) map[string]any {
	t.Helper()
	m, ok := r.StructuredContent.(map[string]any)
	require.True(t, ok, "structuredContent: %#v", r.StructuredContent)
	return m
}

func (f *fakeDino) keysSeen() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.seenKeys {
		out[k] = v
	}
	return out
}

// TestHTTPTransportsAndAuthModes: both transports × both auth modes, through mcp-go's client.
func TestHTTPTransportsAndAuthModes(t *testing.T) {
	for _, kind := range []string{"http", "sse"} {
		t.Run(kind+"/server-key", func(t *testing.T) {
			fake := newFakeDino()
			up := httptest.NewServer(fake)
			defer up.Close()
			h := startHTTP(t, kind, up.URL, []string{"--caller-token", callerToken}, "DINO_SPEND_KEY="+e2eKey)
			c := h.mcpClient(t, callerToken)
			tl, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
			require.NoError(t, err)
			assert.Len(t, tl.Tools, 3)
			r := callTool(t, c, "request_spend", map[string]any{"amount_cents": 4200, "currency": "usd", "merchant_name": "AWS", "reason": "http"})
			require.False(t, r.IsError)
			id := structured(t, r)["id"].(string)
			assert.Equal(t, id, structured(t, callTool(t, c, "get_spend_status", map[string]any{"spend_id": id}))["id"])
			assert.Equal(t, "e2e-account", structured(t, callTool(t, c, "get_balance", map[string]any{}))["spend_account_name"])
			assert.Equal(t, map[string]int{"Bearer " + e2eKey: 3}, fake.keysSeen(), "only the server's key reaches Dino; the caller token never does")
			stop(t, h)
			assert.NotContains(t, h.p.Stderr.String(), e2eKey)
			assert.NotContains(t, h.p.Stderr.String(), callerToken)
			assert.Contains(t, h.p.Stderr.String(), `"tool":"request_spend"`)
		})
		t.Run(kind+"/key-from-caller", func(t *testing.T) {
			keyA, keyB := "dino_sk_agent_a_0123456789", "dino_sk_agent_b_9876543210"
			fake := newFakeDino()
			fake.accounts = map[string]string{keyA: "agent-a", keyB: "agent-b"}
			up := httptest.NewServer(fake)
			defer up.Close()
			h := startHTTP(t, kind, up.URL, []string{"--key-from-caller"})
			a, b := h.mcpClient(t, keyA), h.mcpClient(t, keyB)
			r := callTool(t, a, "request_spend", map[string]any{"amount_cents": 100, "currency": "usd", "merchant_name": "m", "reason": "r"})
			require.False(t, r.IsError)
			callTool(t, a, "get_spend_status", map[string]any{"spend_id": structured(t, r)["id"]})
			// Two agents at once never see each other's account.
			var wg sync.WaitGroup
			for _, tc := range []struct {
				c    *client.Client
				want string
			}{{a, "agent-a"}, {b, "agent-b"}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						res := callTool(t, tc.c, "get_balance", map[string]any{})
						assert.Equal(t, tc.want, structured(t, res)["spend_account_name"])
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, map[string]int{"Bearer " + keyA: 12, "Bearer " + keyB: 10}, fake.keysSeen())
			stop(t, h)
			for _, k := range []string{keyA, keyB} {
				assert.NotContains(t, h.p.Stderr.String(), k)
			}
		})
	}
}

func stop(t *testing.T, h *httpServer) {
	t.Helper()
	require.NoError(t, h.p.Cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, h.p.Wait(t, 30*time.Second))
}

func rawPost(t *testing.T, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// TestHTTPRejections: 401 without or with a wrong token, 403 for a foreign Origin or Host, 413
// for an oversized body, and a session that refuses a second credential.
func TestHTTPRejections(t *testing.T) {
	for _, kind := range []string{"http", "sse"} {
		t.Run(kind, func(t *testing.T) {
			up := httptest.NewServer(newFakeDino())
			defer up.Close()
			h := startHTTP(t, kind, up.URL, []string{"--caller-token", callerToken, "--caller-token", callerToken + "-second", "--max-body-bytes", "4096"}, "DINO_SPEND_KEY="+e2eKey)
			url := h.base + "/mcp"
			if kind == "sse" {
				url = h.base + "/message?sessionId=whatever"
			}
			auth := map[string]string{"Authorization": "Bearer " + callerToken}
			for _, tc := range []struct {
				name    string
				headers map[string]string
				body    string
				status  int
			}{
				{"no token", nil, initBody, 401},
				{"wrong token", map[string]string{"Authorization": "Bearer not-the-caller-token-at-all"}, initBody, 401},
				{"spending key is not a caller token", map[string]string{"Authorization": "Bearer " + e2eKey}, initBody, 401},
				{"foreign origin", map[string]string{"Authorization": "Bearer " + callerToken, "Origin": "https://evil.example"}, initBody, 403},
				{"rebinding host", map[string]string{"Authorization": "Bearer " + callerToken, "Host": "evil.example:8080"}, initBody, 403},
				{"oversized body", auth, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, 413},
			} {
				res, body := rawPost(t, url, tc.headers, tc.body)
				assert.Equal(t, tc.status, res.StatusCode, "%s: %s", tc.name, body)
				assert.Contains(t, body, `"error"`, tc.name)
				if tc.status == 401 {
					assert.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer", tc.name)
				}
			}
			// A loopback Origin (a local browser client) is accepted.
			res, _ := rawPost(t, h.base+"/healthz", map[string]string{"Origin": "http://localhost:6274"}, "")
			assert.NotEqual(t, 403, res.StatusCode)

			// A session opened with one credential refuses another.
			if kind == "http" {
				res, _ := rawPost(t, url, auth, initBody)
				require.Equal(t, 200, res.StatusCode)
				sid := res.Header.Get("Mcp-Session-Id")
				require.NotEmpty(t, sid)
				res, body := rawPost(t, url, map[string]string{"Authorization": "Bearer " + callerToken + "-second", "Mcp-Session-Id": sid}, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
				assert.Equal(t, 403, res.StatusCode, body)
				res, body = rawPost(t, url, map[string]string{"Authorization": "Bearer " + callerToken, "Mcp-Session-Id": sid}, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
				assert.Equal(t, 200, res.StatusCode, body)
			} else {
				sid := openSSE(t, h.base, callerToken)
				res, body := rawPost(t, h.base+"/message?sessionId="+sid, map[string]string{"Authorization": "Bearer " + callerToken + "-second"}, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
				assert.Equal(t, 403, res.StatusCode, body)
				res, body = rawPost(t, h.base+"/message?sessionId="+sid, auth, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
				assert.Equal(t, 202, res.StatusCode, body)
			}
			stop(t, h)
		})
	}
}

// openSSE opens an SSE stream and returns its session id (the stream stays open for the test).
func openSSE(t *testing.T, base, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, 200, res.StatusCode)
	buf := make([]byte, 4096)
	var got string
	for !strings.Contains(got, "sessionId=") || !strings.Contains(got[strings.Index(got, "sessionId="):], "\n") {
		n, err := res.Body.Read(buf)
		require.NoError(t, err)
		got += string(buf[:n])
	}
	rest := got[strings.Index(got, "sessionId=")+len("sessionId="):]
	return strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
}

// TestHTTPSIGTERMDrainsInFlightCall: SIGTERM while a tool call waits on Dino; the call finishes
// and reaches the client, then the server exits 0.
func TestHTTPSIGTERMDrainsInFlightCall(t *testing.T) {
	for _, kind := range []string{"http", "sse"} {
		t.Run(kind, func(t *testing.T) {
			fake := newFakeDino()
			fake.hold = make(chan struct{})
			up := httptest.NewServer(fake)
			defer up.Close()
			h := startHTTP(t, kind, up.URL, []string{"--caller-token", callerToken}, "DINO_SPEND_KEY="+e2eKey, "DINO_DRAIN_TIMEOUT=20s")
			c := h.mcpClient(t, callerToken)
			done := make(chan *mcp.CallToolResult, 1)
			go func() {
				req := mcp.CallToolRequest{}
				req.Params.Name = "request_spend"
				req.Params.Arguments = map[string]any{"amount_cents": 999, "currency": "usd", "merchant_name": "m", "reason": "in flight"}
				res, err := c.CallTool(context.Background(), req)
				if err != nil {
					t.Errorf("call: %v", err)
				}
				done <- res
			}()
			select {
			case <-fake.arrived:
			case <-time.After(30 * time.Second):
				t.Fatal("the call never reached Dino")
			}
			require.NoError(t, h.p.Cmd.Process.Signal(syscall.SIGTERM))
			select {
			case <-h.p.Exited():
				t.Fatal("exited with a call in flight")
			case <-time.After(500 * time.Millisecond):
			}
			// New connections are refused while draining.
			_, err := http.Get(h.base + "/healthz")
			assert.Error(t, err, "the listener must be closed once SIGTERM arrives")
			close(fake.hold)
			select {
			case res := <-done:
				require.NotNil(t, res)
				assert.False(t, res.IsError)
				assert.Equal(t, "approved", structured(t, res)["status"])
			case <-time.After(30 * time.Second):
				t.Fatal("the in-flight call never completed")
			}
			assert.Equal(t, 0, h.p.Wait(t, 30*time.Second))
			assert.Contains(t, h.p.Stderr.String(), "draining tool calls")
		})
	}
}

func TestServeRefusesUnsafeConfigurations(t *testing.T) {
	bin := e2e.Build(t, "dino-mcp")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "0.0.0.0:0"}, "refusing to serve 0.0.0.0:0 (not loopback) with no caller authentication"},
		{[]string{"serve"}, "no caller authentication"},
		{[]string{"serve", "--transport", "websocket", "--caller-token", callerToken}, "--transport"},
		{[]string{"serve", "--caller-token", "short"}, "at least 16 characters"},
		{[]string{"serve", "--transport", "sse", "--stateless", "--caller-token", callerToken}, "--stateless applies to --transport http only"},
		{[]string{"serve", "--key-from-caller", "--caller-token", callerToken}, "exclude each other"},
		{[]string{"serve", "--allowed-origin", "evil", "--caller-token", callerToken}, "--allowed-origin"},
	} {
		p := e2e.Start(t, bin, tc.args, "DINO_SPEND_KEY="+e2eKey)
		assert.Equal(t, 2, p.Wait(t, 30*time.Second), tc.args)
		assert.Contains(t, p.Stderr.String(), tc.want, tc.args)
	}
	// --insecure-no-auth starts, and says loudly what it means.
	up := httptest.NewServer(newFakeDino())
	defer up.Close()
	h := startHTTP(t, "http", up.URL, []string{"--insecure-no-auth"}, "DINO_SPEND_KEY="+e2eKey)
	res, body := rawPost(t, h.base+"/mcp", nil, initBody)
	assert.Equal(t, 200, res.StatusCode, body)
	stop(t, h)
	assert.Contains(t, h.p.Stderr.String(), "any caller that reaches this address can spend")
}

// TestStatelessStreamableHTTP: with --stateless every request stands alone, so replicas behind a
// plain load balancer need no sticky sessions: two servers answer one client's calls alternately.
func TestStatelessStreamableHTTP(t *testing.T) {
	fake := newFakeDino()
	up := httptest.NewServer(fake)
	defer up.Close()
	r1 := startHTTP(t, "http", up.URL, []string{"--stateless", "--caller-token", callerToken}, "DINO_SPEND_KEY="+e2eKey)
	r2 := startHTTP(t, "http", up.URL, []string{"--stateless", "--caller-token", callerToken}, "DINO_SPEND_KEY="+e2eKey)
	auth := map[string]string{"Authorization": "Bearer " + callerToken}
	res, body := rawPost(t, r1.base+"/mcp", auth, initBody)
	require.Equal(t, 200, res.StatusCode, body)
	assert.Empty(t, res.Header.Get("Mcp-Session-Id"))
	for i, base := range []string{r2.base, r1.base, r2.base} {
		res, body := rawPost(t, base+"/mcp", auth, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"get_balance","arguments":{}}}`, i+2))
		assert.Equal(t, 200, res.StatusCode, body)
		assert.Contains(t, body, "remaining_budget_cents")
	}
	stop(t, r1)
	stop(t, r2)
}

// TestHTTPSessionLimitsAndReadiness: the session cap answers 503, idle sessions are reaped (404,
// so the client re-initializes), and /readyz follows Dino's reachability.
func TestHTTPSessionLimitsAndReadiness(t *testing.T) {
	up := httptest.NewServer(newFakeDino())
	h := startHTTP(t, "http", up.URL, []string{"--caller-token", callerToken, "--max-sessions", "2", "--session-idle-timeout", "3s"}, "DINO_SPEND_KEY="+e2eKey)
	auth := map[string]string{"Authorization": "Bearer " + callerToken}
	var sids []string
	for i := 0; i < 2; i++ {
		res, body := rawPost(t, h.base+"/mcp", auth, initBody)
		require.Equal(t, 200, res.StatusCode, body)
		sids = append(sids, res.Header.Get("Mcp-Session-Id"))
	}
	res, body := rawPost(t, h.base+"/mcp", auth, initBody)
	assert.Equal(t, 503, res.StatusCode, body)
	assert.Equal(t, "30", res.Header.Get("Retry-After"))
	assert.Contains(t, body, "too_many_sessions")

	// Any request on a session keeps it alive, so look only after the timeout has long passed.
	time.Sleep(7 * time.Second)
	res, body = rawPost(t, h.base+"/mcp", map[string]string{"Authorization": "Bearer " + callerToken, "Mcp-Session-Id": sids[0]}, `{"jsonrpc":"2.0","id":9,"method":"ping"}`)
	assert.Equal(t, 404, res.StatusCode, body)
	res, body = rawPost(t, h.base+"/mcp", auth, initBody)
	assert.Equal(t, 200, res.StatusCode, "a reaped session frees its slot: %s", body)

	ready, err := http.Get(h.base + "/readyz")
	require.NoError(t, err)
	ready.Body.Close()
	assert.Equal(t, 200, ready.StatusCode)
	up.Close()
	ready, err = http.Get(h.base + "/readyz")
	require.NoError(t, err)
	ready.Body.Close()
	assert.Equal(t, 503, ready.StatusCode)
	stop(t, h)
}
