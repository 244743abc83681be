package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/schemas"
	"github.com/dinoid/dino-mcp/tools"
)

type rpcResponse struct {
	Result *struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
		Tools             []toolDef       `json:"tools"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type toolDef struct {
	Name         string                     `json:"name"`
	Description  string                     `json:"description"`
	InputSchema  map[string]json.RawMessage `json:"inputSchema"`
	OutputSchema map[string]json.RawMessage `json:"outputSchema"`
	Annotations  map[string]any             `json:"annotations"`
}

func decodeResponse(t *testing.T, raw json.RawMessage) rpcResponse {
	t.Helper()
	var r rpcResponse
	require.NoError(t, json.Unmarshal(raw, &r))
	return r
}

// TestToolInventory: exactly three tools, each with a description, all four annotations, and
// schemas that are the files in schemas/ with no top-level combinators some hosts reject.
func TestToolInventory(t *testing.T) {
	tr := runScenario(t, scenario{name: "list", request: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`})
	r := decodeResponse(t, tr.Response)
	require.NotNil(t, r.Result)
	names := map[string]toolDef{}
	for _, td := range r.Result.Tools {
		names[td.Name] = td
		assert.GreaterOrEqual(t, len(td.Description), 80, "%s needs a description a model can act on", td.Name)
		for _, a := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
			_, ok := td.Annotations[a].(bool)
			assert.True(t, ok, "%s must declare %s explicitly", td.Name, a)
		}
		for _, kw := range []string{"anyOf", "oneOf", "allOf"} {
			assert.NotContains(t, td.InputSchema, kw, td.Name)
			assert.NotContains(t, td.OutputSchema, kw, td.Name)
		}
		assert.JSONEq(t, `"object"`, string(td.InputSchema["type"]))
		assert.JSONEq(t, `false`, string(td.InputSchema["additionalProperties"]), "%s: request schemas are strict", td.Name)
	}
	require.Len(t, names, 3)

	wantAnn := map[string][4]bool{
		tools.RequestSpend:   {false, false, false, true},
		tools.GetSpendStatus: {true, false, true, true},
		tools.GetBalance:     {true, false, true, true},
	}
	for name, w := range wantAnn {
		a := names[name].Annotations
		assert.Equal(t, []any{w[0], w[1], w[2], w[3]}, []any{a["readOnlyHint"], a["destructiveHint"], a["idempotentHint"], a["openWorldHint"]}, name)
	}

	sameAsFile := func(got map[string]json.RawMessage, file string, drop ...string) {
		var want map[string]any
		require.NoError(t, json.Unmarshal(schemas.Document(file), &want))
		b, _ := json.Marshal(got)
		var g map[string]any
		require.NoError(t, json.Unmarshal(b, &g))
		for _, d := range drop {
			delete(g["properties"].(map[string]any), d)
		}
		assert.Equal(t, want, g, "schema differs from schemas/%s", file)
	}
	sameAsFile(names[tools.RequestSpend].InputSchema, schemas.SpendRequest, "idempotency_key")
	sameAsFile(names[tools.RequestSpend].OutputSchema, schemas.Spend)
	sameAsFile(names[tools.GetSpendStatus].InputSchema, schemas.SpendLookup, "wait_seconds")
	sameAsFile(names[tools.GetSpendStatus].OutputSchema, schemas.Spend)
	sameAsFile(names[tools.GetBalance].InputSchema, schemas.BalanceRequest)
	sameAsFile(names[tools.GetBalance].OutputSchema, schemas.Balance)
	assert.Contains(t, string(names[tools.RequestSpend].InputSchema["properties"]), "idempotency_key")
}

// TestEveryToolResultHasTextAndStructuredContent checks the MCP result rules over all golden
// transcripts: structuredContent and text on every tool result, success content valid against
// the output schema, the JSON in the text equal to structuredContent.
func TestEveryToolResultHasTextAndStructuredContent(t *testing.T) {
	results := 0
	for name, tr := range goldenFiles(t) {
		if !strings.Contains(string(tr.Request), `"tools/call"`) {
			continue
		}
		r := decodeResponse(t, tr.Response)
		if r.Result == nil {
			require.NotNil(t, r.Error, name)
			assert.Equal(t, "policy_read_only_call.json", name, "only an unregistered tool may be a JSON-RPC error")
			continue
		}
		results++
		require.Len(t, r.Result.Content, 1, name)
		assert.Equal(t, "text", r.Result.Content[0].Type, name)
		require.NotEmpty(t, r.Result.StructuredContent, name)
		text := r.Result.Content[0].Text
		i := strings.LastIndex(text, "\n\n")
		require.Positive(t, i, name)
		assert.JSONEq(t, string(r.Result.StructuredContent), text[i+2:], "%s: the text must carry the same information", name)
		if !r.Result.IsError {
			schema := schemas.Spend
			if strings.Contains(string(tr.Request), `"get_balance"`) {
				schema = schemas.Balance
			}
			assert.Empty(t, schemas.ValidateJSON(schema, r.Result.StructuredContent), name)
		} else {
			assert.Contains(t, string(r.Result.StructuredContent), `"next_step"`, name)
		}
	}
	assert.Greater(t, results, 40)
}

// TestInvalidArgumentsAndPolicyMakeNoRequest: nothing leaves the process for a bad argument or a
// local refusal.
func TestInvalidArgumentsAndPolicyMakeNoRequest(t *testing.T) {
	n := 0
	for name, tr := range goldenFiles(t) {
		if !strings.HasPrefix(name, "invalid_") && name != "policy_max_amount.json" && name != "policy_merchant_allowlist.json" {
			continue
		}
		n++
		assert.Empty(t, tr.UpstreamRequests, "%s sent a request upstream", name)
		r := decodeResponse(t, tr.Response)
		require.NotNil(t, r.Result, name)
		assert.True(t, r.Result.IsError, name)
		if strings.HasPrefix(name, "policy_") {
			assert.Contains(t, r.Result.Content[0].Text, "Refused by the local policy", name)
		}
	}
	assert.GreaterOrEqual(t, n, 15)
}

// TestRetriesReuseTheIdempotencyKey: every attempt of one call carries the same key.
func TestRetriesReuseTheIdempotencyKey(t *testing.T) {
	files := goldenFiles(t)
	for _, name := range []string{"retry_429_then_success.json", "retry_503_then_success.json", "error_internal.json", "upstream_timeout.json"} {
		tr := files[name]
		require.GreaterOrEqual(t, len(tr.UpstreamRequests), 2, name)
		first := tr.UpstreamRequests[0].IdempotencyKey
		require.NotEmpty(t, first, name)
		for _, sr := range tr.UpstreamRequests {
			assert.Equal(t, first, sr.IdempotencyKey, name)
			assert.Equal(t, "Bearer <the spending key>", sr.Authorization, name)
		}
	}
	// The caller's key is sent as the header and never in the body.
	tr := files["spend_caller_idempotency_key.json"]
	require.Len(t, tr.UpstreamRequests, 1)
	assert.Equal(t, "eval-job-42", tr.UpstreamRequests[0].IdempotencyKey)
	assert.NotContains(t, string(tr.UpstreamRequests[0].Body), "idempotency_key")
	assert.Empty(t, schemas.ValidateJSON(schemas.SpendRequest, tr.UpstreamRequests[0].Body))
}

func TestPendingResultOpensWithTheActionMessage(t *testing.T) {
	tr := goldenFiles(t)["spend_needs_approval.json"]
	r := decodeResponse(t, tr.Response)
	text := r.Result.Content[0].Text
	assert.True(t, strings.HasPrefix(text, "PENDING OPERATOR APPROVAL"), text)
	for _, want := range []string{"Nothing has been spent", "https://app.dino.id/agents/approvals?spendRequestId=req_124", "Do not retry or split", "get_spend_status"} {
		assert.Contains(t, text, want)
	}
	assert.False(t, r.Result.IsError)
}
