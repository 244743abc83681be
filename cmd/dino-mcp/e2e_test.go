package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/internal/e2e"
)

const e2eKey = "dino_sk_e2e_super_secret_4c1f9a"

// fakeDino is a loopback /v1 upstream: it approves every spend, echoing the amount, and can be
// told to hold requests so a test can catch one in flight.
type fakeDino struct {
	// accounts maps each accepted spending key to its account name; nil accepts e2eKey only.
	accounts map[string]string
	mu       sync.Mutex
	seenKeys map[string]int
	idem     []string
	hold     chan struct{}
	arrived  chan struct{}
	spends   atomic.Int64
}

func newFakeDino() *fakeDino {
	return &fakeDino{seenKeys: map[string]int{}, arrived: make(chan struct{}, 100)}
}

func (f *fakeDino) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seenKeys[r.Header.Get("Authorization")]++
	f.idem = append(f.idem, r.Header.Get("Idempotency-Key"))
	hold := f.hold
	f.mu.Unlock()
	select {
	case f.arrived <- struct{}{}:
	default: // nobody is watching arrivals; never block the upstream on it
	}
	if hold != nil {
		<-hold
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "rid_e2e")
	account := "e2e-account"
	if f.accounts != nil {
		account = f.accounts[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	} else if r.Header.Get("Authorization") != "Bearer "+e2eKey {
		account = ""
	}
	if account == "" {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":{"code":"invalid_api_key","message":"Invalid API key"}}`)
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/spend":
		var body struct {
			AmountCents int64  `json:"amount_cents"`
			Merchant    string `json:"merchant_name"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		n := f.spends.Add(1)
		fmt.Fprintf(w, `{"id":"req_%d","status":"approved","decision_reason":"Spend request approved","budget_period":"monthly","remaining_budget_cents":1000000,"remaining_monthly_budget_cents":1000000,"amount_cents":%d,"currency":"usd","merchant_name":%q}`, n, body.AmountCents, body.Merchant)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/spend/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/spend/")
		fmt.Fprintf(w, `{"id":%q,"status":"approved","decision_reason":"Spend request approved","budget_period":"monthly","remaining_budget_cents":1000000,"remaining_monthly_budget_cents":1000000,"amount_cents":100,"currency":"usd","merchant_name":"AWS"}`, id)
	case r.Method == "GET" && r.URL.Path == "/v1/balance":
		fmt.Fprintf(w, `{"spend_account_name":%q,"budget_period":"monthly","budget_cents":5000000,"spent_cents":0,"remaining_budget_cents":5000000,"remaining_monthly_budget_cents":5000000,"max_transaction_cents":100000,"approval_threshold_cents":null,"currency":"usd","period_start":"2026-12-01T00:00:00Z","period_end":"2027-01-01T00:00:00Z"}`, account)
	default:
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no such route"}}`)
	}
}

func startServer(t *testing.T, upstream string, extra ...string) *e2e.Proc {
	bin := e2e.Build(t, "dino-mcp")
	env := append([]string{"DINO_SPEND_KEY=" + e2eKey, "DINO_API_URL=" + upstream, "DINO_LOG_LEVEL=debug"}, extra...)
	return e2e.Start(t, bin, nil, env...)
}

func assertNoKey(t *testing.T, p *e2e.Proc) {
	t.Helper()
	assert.NotContains(t, p.Stdout.String(), e2eKey, "the key reached stdout")
	assert.NotContains(t, p.Stderr.String(), e2eKey, "the key reached stderr")
	assert.Empty(t, p.BadLines(), "stdout must carry JSON-RPC only")
}

func TestStdioEndToEnd(t *testing.T) {
	fake := newFakeDino()
	up := httptest.NewServer(fake)
	defer up.Close()
	p := startServer(t, up.URL)

	init := string(p.Initialize(t, 1, nil))
	assert.Contains(t, init, `"name":"dino-mcp"`)

	var list struct {
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal(p.Call(t, 2, "tools/list", map[string]any{}), &list))
	var names []string
	for _, tl := range list.Result.Tools {
		names = append(names, tl.Name)
	}
	assert.ElementsMatch(t, []string{"request_spend", "get_spend_status", "get_balance"}, names)

	r := e2e.DecodeToolResult(t, p.Call(t, 3, "tools/call", map[string]any{"name": "request_spend", "arguments": map[string]any{"amount_cents": 12000, "currency": "usd", "merchant_name": "AWS", "reason": "GPU"}}))
	assert.False(t, r.Result.IsError)
	assert.Equal(t, "approved", r.Result.StructuredContent["status"])
	assert.True(t, strings.HasPrefix(r.Text(), "APPROVED"), r.Text())

	r = e2e.DecodeToolResult(t, p.Call(t, 4, "tools/call", map[string]any{"name": "get_spend_status", "arguments": map[string]any{"spend_id": "req_1"}}))
	assert.Equal(t, "req_1", r.Result.StructuredContent["id"])

	r = e2e.DecodeToolResult(t, p.Call(t, 5, "tools/call", map[string]any{"name": "get_balance", "arguments": map[string]any{}}))
	assert.EqualValues(t, 5000000, r.Result.StructuredContent["remaining_budget_cents"])

	// An invalid argument is a tool error, and nothing goes upstream.
	before := fake.spends.Load()
	r = e2e.DecodeToolResult(t, p.Call(t, 6, "tools/call", map[string]any{"name": "request_spend", "arguments": map[string]any{"amount_cents": "120.00", "currency": "usd", "merchant_name": "AWS", "reason": "GPU"}}))
	assert.True(t, r.Result.IsError)
	assert.Equal(t, before, fake.spends.Load())

	// Concurrent calls: responses may come in any order; match them by id.
	const n = 24
	for i := 0; i < n; i++ {
		p.Request(t, 100+i, "tools/call", map[string]any{"name": "request_spend", "arguments": map[string]any{"amount_cents": 1000 + i, "currency": "usd", "merchant_name": fmt.Sprintf("m%d", i), "reason": "load"}})
	}
	for i := 0; i < n; i++ {
		r := e2e.DecodeToolResult(t, p.Await(t, 100+i, 60*time.Second))
		require.False(t, r.Result.IsError, r.Text())
		assert.EqualValues(t, 1000+i, r.Result.StructuredContent["amount_cents"], "response %d belongs to another request", 100+i)
		assert.Equal(t, fmt.Sprintf("m%d", i), r.Result.StructuredContent["merchant_name"])
	}
	fake.mu.Lock()
	assert.Equal(t, map[string]int{"Bearer " + e2eKey: int(fake.spends.Load()) + 2}, fake.seenKeys, "every request carried the key")
	seen := map[string]bool{}
	for _, k := range fake.idem {
		if k != "" {
			assert.False(t, seen[k], "each call mints its own Idempotency-Key")
			seen[k] = true
		}
	}
	fake.mu.Unlock()

	// Stdin EOF: a clean exit.
	p.CloseStdin()
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
	assertNoKey(t, p)
	assert.Contains(t, p.Stderr.String(), `"tool":"request_spend"`, "one log line per tool call on stderr")
}

func TestStdioSIGTERMDrainsInFlightCall(t *testing.T) {
	fake := newFakeDino()
	fake.hold = make(chan struct{})
	up := httptest.NewServer(fake)
	defer up.Close()
	p := startServer(t, up.URL, "DINO_DRAIN_TIMEOUT=20s")
	p.Initialize(t, 1, nil)
	p.Request(t, 2, "tools/call", map[string]any{"name": "request_spend", "arguments": map[string]any{"amount_cents": 700, "currency": "usd", "merchant_name": "AWS", "reason": "in flight"}})
	select {
	case <-fake.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the call never reached the upstream")
	}
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	// The process must wait for the held call rather than exit.
	select {
	case <-p.Exited():
		t.Fatal("exited before the in-flight call finished")
	case <-time.After(500 * time.Millisecond):
	}
	close(fake.hold)
	r := e2e.DecodeToolResult(t, p.Await(t, 2, 30*time.Second))
	assert.False(t, r.Result.IsError, r.Text())
	assert.Equal(t, "approved", r.Result.StructuredContent["status"])
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
	assert.Contains(t, p.Stderr.String(), "shutting down")
	assertNoKey(t, p)
}

func TestStdioSIGTERMWhenIdle(t *testing.T) {
	up := httptest.NewServer(newFakeDino())
	defer up.Close()
	p := startServer(t, up.URL)
	p.Initialize(t, 1, nil)
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
	assertNoKey(t, p)
}

func TestStartupErrorsAreOneClearLine(t *testing.T) {
	bin := e2e.Build(t, "dino-mcp")
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "set DINO_SPEND_KEY"},
		{[]string{"DINO_SPEND_KEY=" + e2eKey, "DINO_API_URL=http://api.dino.id"}, "use https"},
		{[]string{"DINO_SPEND_KEY=" + e2eKey, "DINO_MAX_RETRIES=many"}, "DINO_MAX_RETRIES"},
		{[]string{"DINO_SPEND_KEY=" + e2eKey + " trailing"}, "whitespace"},
	} {
		p := e2e.Start(t, bin, nil, tc.env...)
		assert.Equal(t, 2, p.Wait(t, 30*time.Second), tc.want)
		lines := strings.Split(strings.TrimSpace(p.Stderr.String()), "\n")
		assert.Len(t, lines, 1, p.Stderr.String())
		assert.Contains(t, p.Stderr.String(), tc.want)
		assert.NotContains(t, p.Stderr.String(), e2eKey)
		assert.Empty(t, p.Stdout.String())
	}
	p := e2e.Start(t, bin, []string{"--version"})
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
	assert.Contains(t, p.Stdout.String(), "dino-mcp v")
}
