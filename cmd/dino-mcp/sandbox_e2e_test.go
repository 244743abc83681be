package main_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi/sandbox"
	"github.com/dinoid/dino-mcp/internal/e2e"
)

// TestSandboxModeEndToEnd drives `dino-mcp --sandbox` over stdio with no configuration beyond
// where to put the database: approved, needs_approval, an operator approval through the CLI and
// one through the admin API, then get_spend_status and get_balance see them.
func TestSandboxModeEndToEnd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sandbox.db")
	addr := e2e.FreeAddr(t)
	const token = "e2e_admin_token_0123456789abcdef"
	p := e2e.Start(t, e2e.Build(t, "dino-mcp"), []string{"--sandbox", "--sandbox-db", db, "--sandbox-addr", addr}, "DINO_SANDBOX_ADMIN_TOKEN="+token)
	p.Initialize(t, 1, nil)
	call := func(id int, tool string, args map[string]any) e2e.ToolResult {
		return e2e.DecodeToolResult(t, p.Call(t, id, "tools/call", map[string]any{"name": tool, "arguments": args}))
	}
	spend := func(id int, amount int) e2e.ToolResult {
		return call(id, "request_spend", map[string]any{"amount_cents": amount, "currency": "usd", "merchant_name": "OpenAI", "reason": "fine-tuning run"})
	}

	r := spend(2, 12_000)
	require.False(t, r.Result.IsError, r.Text())
	assert.Equal(t, "approved", r.Result.StructuredContent["status"])

	r = spend(3, 60_000)
	require.False(t, r.Result.IsError, r.Text())
	require.Equal(t, "needs_approval", r.Result.StructuredContent["status"])
	pendingID := r.Result.StructuredContent["id"].(string)
	approvalURL := r.Result.StructuredContent["approval_url"].(string)
	assert.Equal(t, "http://"+addr+"/agents/approvals?spendRequestId="+pendingID, approvalURL)
	assert.True(t, strings.HasPrefix(r.Text(), "PENDING OPERATOR APPROVAL"))
	// The approval page really exists: it asks the operator to sign in first.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(approvalURL)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Contains(t, res.Header.Get("Location"), "/login?next=")

	r = call(4, "get_spend_status", map[string]any{"spend_id": pendingID})
	assert.Equal(t, "needs_approval", r.Result.StructuredContent["status"])

	// The operator approves with the CLI, on the same database, while the server runs.
	out, err := exec.Command(e2e.Build(t, "dino-sandbox"), "approve", pendingID, "--db", db, "--operator", "alice").CombinedOutput()
	require.NoError(t, err, string(out))

	r = call(5, "get_spend_status", map[string]any{"spend_id": pendingID})
	assert.Equal(t, "approved", r.Result.StructuredContent["status"])
	assert.True(t, strings.HasPrefix(r.Text(), "APPROVED"), r.Text())
	r = call(6, "get_balance", map[string]any{})
	assert.EqualValues(t, sandbox.DemoBudgetCents-12_000-60_000, r.Result.StructuredContent["remaining_budget_cents"])

	// A second pending request, approved through the admin API.
	r = spend(7, 55_000)
	second := r.Result.StructuredContent["id"].(string)
	req, _ := http.NewRequest("POST", "http://"+addr+"/admin/v1/spend/"+second+"/decline", strings.NewReader(`{"operator":"bob","reason":"over budget"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var decided struct{ Status string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&decided))
	res.Body.Close()
	assert.Equal(t, "declined", decided.Status)
	r = call(8, "get_spend_status", map[string]any{"spend_id": second})
	assert.Equal(t, "declined", r.Result.StructuredContent["status"])

	// Stderr tells the operator where the dashboard is.
	assert.Contains(t, p.Stderr.String(), "dashboard:   http://"+addr+"/agents/approvals")
	p.CloseStdin()
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
	assert.Empty(t, p.BadLines())

	out, err = exec.Command(e2e.Build(t, "dino-sandbox"), "check", "--db", db).CombinedOutput()
	assert.NoError(t, err, string(out))
}

// TestSandboxModeReusesARunningSandbox: with a sandbox already serving the address, dino-mcp
// talks to it instead of starting another.
func TestSandboxModeReusesARunningSandbox(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	addr := e2e.FreeAddr(t)
	sb := e2e.Start(t, e2e.Build(t, "dino-sandbox"), []string{"serve", "--db", db, "--addr", addr}, "DINO_SANDBOX_ADMIN_TOKEN=shared_admin_token_0123456789")
	e2e.WaitFor(t, 60*time.Second, "the sandbox", func() bool { return strings.Contains(sb.Stderr.String(), "serving") })
	p := e2e.Start(t, e2e.Build(t, "dino-mcp"), []string{"--sandbox", "--sandbox-addr", addr, "--sandbox-db", filepath.Join(t.TempDir(), "unused.db")})
	p.Initialize(t, 1, nil)
	r := e2e.DecodeToolResult(t, p.Call(t, 2, "tools/call", map[string]any{"name": "request_spend", "arguments": map[string]any{"amount_cents": 100, "currency": "usd", "merchant_name": "m", "reason": "r"}}))
	require.False(t, r.Result.IsError, r.Text())
	assert.Contains(t, p.Stderr.String(), "already serving")
	p.CloseStdin()
	assert.Equal(t, 0, p.Wait(t, 30*time.Second))
	out, err := exec.Command(e2e.Build(t, "dino-sandbox"), "ledger", "--db", db).CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "spend_approved", "the spend landed in the running sandbox's database")
}
