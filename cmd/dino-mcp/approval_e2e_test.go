package main_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/internal/e2e"
)

func startSandboxMCP(t *testing.T) (*e2e.Proc, string) {
	db := filepath.Join(t.TempDir(), "sandbox.db")
	p := e2e.Start(t, e2e.Build(t, "dino-mcp"), []string{"--sandbox", "--sandbox-db", db, "--sandbox-addr", e2e.FreeAddr(t)})
	return p, db
}

func pendingSpend(t *testing.T, p *e2e.Proc, id int) (string, string) {
	t.Helper()
	r := e2e.DecodeToolResult(t, p.Call(t, id, "tools/call", map[string]any{"name": "request_spend",
		"arguments": map[string]any{"amount_cents": 60_000, "currency": "usd", "merchant_name": "OpenAI", "reason": "fine-tune"}}))
	require.Equal(t, "needs_approval", r.Result.StructuredContent["status"], r.Text())
	return r.Result.StructuredContent["id"].(string), r.Result.StructuredContent["approval_url"].(string)
}

type serverMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Mode          string  `json:"mode"`
		URL           string  `json:"url"`
		ElicitationID string  `json:"elicitationId"`
		Message       string  `json:"message"`
		ProgressToken any     `json:"progressToken"`
		Progress      float64 `json:"progress"`
	} `json:"params"`
}

func others(p *e2e.Proc, method string) []serverMsg {
	var out []serverMsg
	for _, raw := range p.Others() {
		var m serverMsg
		if json.Unmarshal(raw, &m) == nil && m.Method == method {
			out = append(out, m)
		}
	}
	return out
}

// TestURLElicitationForPendingSpend: a client that declares URL-mode elicitation is asked to open
// the approval_url; whatever it answers, the spend stays pending until the operator acts.
func TestURLElicitationForPendingSpend(t *testing.T) {
	p, _ := startSandboxMCP(t)
	p.Initialize(t, 1, map[string]any{"elicitation": map[string]any{"url": map[string]any{}}})
	id, url := pendingSpend(t, p, 2)
	e2e.WaitFor(t, 30*time.Second, "the elicitation request", func() bool { return len(others(p, "elicitation/create")) > 0 })
	el := others(p, "elicitation/create")[0]
	assert.Equal(t, "url", el.Params.Mode)
	assert.Equal(t, url, el.Params.URL)
	assert.Contains(t, el.Params.Message, id)
	// The client "accepts" (the user agreed to open the page). That approves nothing.
	p.Send(t, `{"jsonrpc":"2.0","id":`+string(el.ID)+`,"result":{"action":"accept"}}`)
	e2e.WaitFor(t, 30*time.Second, "the answer to be logged", func() bool { return strings.Contains(p.Stderr.String(), "elicitation answered") })
	r := e2e.DecodeToolResult(t, p.Call(t, 3, "tools/call", map[string]any{"name": "get_spend_status", "arguments": map[string]any{"spend_id": id}}))
	assert.Equal(t, "needs_approval", r.Result.StructuredContent["status"])
	p.CloseStdin()
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
}

func TestNoElicitationWithoutTheCapability(t *testing.T) {
	p, _ := startSandboxMCP(t)
	// Form-only elicitation is not URL elicitation.
	p.Initialize(t, 1, map[string]any{"elicitation": map[string]any{"form": map[string]any{}}})
	pendingSpend(t, p, 2)
	pendingSpend(t, p, 3)
	// A ping round trip after the results: an elicitation, had one been sent, would be in by now.
	p.Call(t, 4, "ping", map[string]any{})
	time.Sleep(500 * time.Millisecond)
	assert.Empty(t, others(p, "elicitation/create"))
	p.CloseStdin()
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
}

// TestWaitSecondsSeesApprovalMidWait: get_spend_status waits, reports progress, and returns as
// soon as the operator approves from the CLI.
func TestWaitSecondsSeesApprovalMidWait(t *testing.T) {
	p, db := startSandboxMCP(t)
	p.Initialize(t, 1, nil)
	id, _ := pendingSpend(t, p, 2)
	p.Request(t, 3, "tools/call", map[string]any{"name": "get_spend_status", "arguments": map[string]any{"spend_id": id, "wait_seconds": 60},
		"_meta": map[string]any{"progressToken": "wait-1"}})
	e2e.WaitFor(t, 30*time.Second, "a progress notification", func() bool { return len(others(p, "notifications/progress")) > 0 })
	prog := others(p, "notifications/progress")[0]
	assert.Equal(t, "wait-1", prog.Params.ProgressToken)
	out, err := exec.Command(e2e.Build(t, "dino-sandbox"), "approve", id, "--db", db).CombinedOutput()
	require.NoError(t, err, string(out))
	r := e2e.DecodeToolResult(t, p.Await(t, 3, 60*time.Second))
	assert.Equal(t, "approved", r.Result.StructuredContent["status"], r.Text())

	// At the deadline a still-pending request is returned as pending.
	id2, _ := pendingSpend(t, p, 4)
	r = e2e.DecodeToolResult(t, p.Call(t, 5, "tools/call", map[string]any{"name": "get_spend_status", "arguments": map[string]any{"spend_id": id2, "wait_seconds": 2}}))
	assert.Equal(t, "needs_approval", r.Result.StructuredContent["status"])
	assert.True(t, strings.HasPrefix(r.Text(), "STILL PENDING"), r.Text())
	p.CloseStdin()
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
}
