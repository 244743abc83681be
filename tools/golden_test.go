package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/schemas"
	"github.com/dinoid/dino-mcp/tools"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/golden")

const goldenKey = "dino_sk_test_golden_0123456789abcdef"

// reply is one scripted answer of the fake upstream.
type reply struct {
	Status   int               `json:"status"`
	Headers  map[string]string `json:"headers,omitempty"`
	Body     json.RawMessage   `json:"body,omitempty"`
	BodyText string            `json:"body_text,omitempty"`
	DelayMS  int               `json:"delay_ms,omitempty"`
}

// seenRequest is what reached the upstream, with the key replaced by a marker.
type seenRequest struct {
	Method         string          `json:"method"`
	Path           string          `json:"path"`
	Authorization  string          `json:"authorization"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	ContentType    string          `json:"content_type,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
}

// transcript is one golden file: the scripted upstream, the JSON-RPC request, what went
// upstream and the JSON-RPC response.
type transcript struct {
	Description      string          `json:"description"`
	Policy           *tools.Policy   `json:"policy,omitempty"`
	Upstream         []reply         `json:"upstream,omitempty"`
	Request          json.RawMessage `json:"request"`
	UpstreamRequests []seenRequest   `json:"upstream_requests"`
	Response         json.RawMessage `json:"response"`
}

type scenario struct {
	name, description string
	policy            *tools.Policy
	upstream          []reply
	request           string
}

func obj(s string) json.RawMessage { return json.RawMessage(s) }

func ok(body string) reply {
	return reply{Status: 200, Headers: map[string]string{"Request-Id": "rid_ok"}, Body: obj(body)}
}

func apiErr(status int, code, msg string, extra ...string) reply {
	param := ""
	if len(extra) > 0 {
		param = fmt.Sprintf(`,"param":%q`, extra[0])
	}
	return reply{Status: status, Headers: map[string]string{"Request-Id": "rid_" + code},
		Body: obj(fmt.Sprintf(`{"error":{"code":%q,"message":%q%s}}`, code, msg, param))}
}

func call(tool, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, tool, args)
}

const (
	approvedBody      = `{"id":"req_123","status":"approved","decision_reason":"Spend request approved","budget_period":"monthly","remaining_budget_cents":38000,"remaining_monthly_budget_cents":38000,"amount_cents":12000,"currency":"usd","merchant_name":"AWS"}`
	needsApprovalBody = `{"id":"req_124","status":"needs_approval","decision_reason":"Amount requires approval","budget_period":"monthly","remaining_budget_cents":50000,"remaining_monthly_budget_cents":50000,"amount_cents":60000,"currency":"usd","merchant_name":"OpenAI","approval_url":"https://app.dino.id/agents/approvals?spendRequestId=req_124"}`
	declinedBody      = `{"id":"req_125","status":"declined","decision_reason":"Amount would exceed the budget for this period","budget_period":"monthly","remaining_budget_cents":5000,"remaining_monthly_budget_cents":5000,"amount_cents":12000,"currency":"usd","merchant_name":"Vercel"}`
	balanceBody       = `{"spend_account_id":"acct_1","spend_account_name":"eval-agent","budget_period":"monthly","budget_cents":50000,"spent_cents":12000,"remaining_budget_cents":38000,"remaining_monthly_budget_cents":38000,"max_transaction_cents":20000,"approval_threshold_cents":50000,"pending_approval_count":1,"currency":"usd","period_start":"2026-12-01T00:00:00Z","period_end":"2027-01-01T00:00:00Z"}`
	awsArgs           = `{"amount_cents":12000,"currency":"usd","merchant_name":"AWS","reason":"GPU runtime for evaluation job"}`
)

func scenarios() []scenario {
	spend := func(args string) string { return call(tools.RequestSpend, args) }
	status := func(id string) string { return call(tools.GetSpendStatus, fmt.Sprintf(`{"spend_id":%q}`, id)) }
	s := []scenario{
		{name: "initialize", description: "initialize names the server, its version and the tools capability",
			request: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"golden","version":"1"}}}`},
		{name: "tools_list", description: "tools/list: the three tools, their schemas and annotations (the schema snapshot)",
			request: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
		{name: "tools_list_read_only", description: "tools/list with --read-only: only the get_ tools", policy: &tools.Policy{ReadOnly: true},
			request: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
		{name: "spend_approved", description: "request_spend approved, with a minted Idempotency-Key",
			upstream: []reply{ok(approvedBody)}, request: spend(awsArgs)},
		{name: "spend_needs_approval", description: "request_spend pending: the text opens with the pending-action message and the approval_url",
			upstream: []reply{ok(needsApprovalBody)}, request: spend(`{"amount_cents":60000,"currency":"usd","merchant_name":"OpenAI","reason":"Fine-tuning run"}`)},
		{name: "spend_declined", description: "request_spend declined: says why and that retrying will not change it",
			upstream: []reply{ok(declinedBody)}, request: spend(`{"amount_cents":12000,"currency":"usd","merchant_name":"Vercel","reason":"Pro plan"}`)},
		{name: "spend_caller_idempotency_key", description: "the caller's idempotency_key is sent as the Idempotency-Key and not in the body",
			upstream: []reply{ok(approvedBody)}, request: spend(`{"amount_cents":12000,"currency":"usd","merchant_name":"AWS","reason":"GPU runtime for evaluation job","idempotency_key":"eval-job-42"}`)},
		{name: "spend_replayed", description: "a replay (Idempotent-Replayed: true) says nothing new was spent",
			upstream: []reply{{Status: 200, Headers: map[string]string{"Request-Id": "rid_replay", "Idempotent-Replayed": "true"}, Body: obj(approvedBody)}},
			request:  spend(`{"amount_cents":12000,"currency":"usd","merchant_name":"AWS","reason":"GPU runtime for evaluation job","idempotency_key":"eval-job-42"}`)},
		{name: "spend_unknown_fields_pass_through", description: "a field the API adds later reaches structuredContent untouched",
			upstream: []reply{ok(`{"id":"req_126","status":"approved","decision_reason":"Spend request approved","budget_period":"daily","remaining_budget_cents":100,"remaining_monthly_budget_cents":100,"amount_cents":900,"currency":"usd","merchant_name":"Fly.io","card":{"last4":"4242"}}`)},
			request:  spend(`{"amount_cents":900,"currency":"usd","merchant_name":"Fly.io","reason":"Preview machines"}`)},
		{name: "status_approved", description: "get_spend_status of an approved request", upstream: []reply{ok(approvedBody)}, request: status("req_123")},
		{name: "status_pending", description: "get_spend_status of a request still pending", upstream: []reply{ok(needsApprovalBody)}, request: status("req_124")},
		{name: "status_declined", description: "get_spend_status of a declined request", upstream: []reply{ok(declinedBody)}, request: status("req_125")},
		{name: "status_wait_until_approved", description: "get_spend_status with wait_seconds polls a pending request until the operator approves it",
			upstream: []reply{ok(needsApprovalBody), ok(needsApprovalBody), ok(strings.Replace(strings.Replace(needsApprovalBody, `"needs_approval"`, `"approved"`, 1), `"Amount requires approval"`, `"Approved by an operator"`, 1))},
			request:  call(tools.GetSpendStatus, `{"spend_id":"req_124","wait_seconds":30}`)},
		{name: "status_wait_not_pending", description: "wait_seconds on a request already decided answers at once",
			upstream: []reply{ok(approvedBody)}, request: call(tools.GetSpendStatus, `{"spend_id":"req_123","wait_seconds":30}`)},
		{name: "invalid_wait_seconds", description: "wait_seconds above the limit", request: call(tools.GetSpendStatus, `{"spend_id":"req_123","wait_seconds":500}`)},
		{name: "invalid_wait_seconds_fraction", description: "wait_seconds that is not whole", request: call(tools.GetSpendStatus, `{"spend_id":"req_123","wait_seconds":1.5}`)},
		{name: "balance", description: "get_balance", upstream: []reply{ok(balanceBody)}, request: call(tools.GetBalance, `{}`)},
		{name: "balance_no_arguments", description: "get_balance with no arguments object at all",
			upstream: []reply{ok(balanceBody)}, request: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_balance"}}`},

		// Every API error code.
		{name: "error_invalid_request", description: "400 invalid_request names the field", upstream: []reply{apiErr(400, "invalid_request", "currency must be the spend account's currency (usd)", "currency")},
			request: spend(`{"amount_cents":100,"currency":"eur","merchant_name":"AWS","reason":"x"}`)},
		{name: "error_invalid_api_key", description: "401 invalid_api_key: a configuration problem, do not retry", upstream: []reply{apiErr(401, "invalid_api_key", "Invalid API key")}, request: spend(awsArgs)},
		{name: "error_revoked_api_key", description: "401 revoked_api_key: ask the operator for a new key", upstream: []reply{apiErr(401, "revoked_api_key", "This spending key was revoked")}, request: spend(awsArgs)},
		{name: "error_funding_source", description: "402 funding_source_budget_exceeded", upstream: []reply{apiErr(402, "funding_source_budget_exceeded", "The team wallet's funding source cannot cover this amount")}, request: spend(awsArgs)},
		{name: "error_plan_volume", description: "402 plan_spend_volume_exceeded", upstream: []reply{apiErr(402, "plan_spend_volume_exceeded", "The team plan's spend volume for this month is used up")}, request: spend(awsArgs)},
		{name: "error_not_found", description: "404 not_found on get_spend_status", upstream: []reply{apiErr(404, "not_found", "No such spend request: req_999")}, request: status("req_999")},
		{name: "error_idempotency_in_use", description: "409 idempotency_key_in_use is retried with the same key, then reported",
			upstream: []reply{apiErr(409, "idempotency_key_in_use", "A request with this key is in progress"), apiErr(409, "idempotency_key_in_use", "A request with this key is in progress"), apiErr(409, "idempotency_key_in_use", "A request with this key is in progress")},
			request:  spend(awsArgs)},
		{name: "error_idempotency_reused", description: "422 idempotency_key_reused", upstream: []reply{apiErr(422, "idempotency_key_reused", "This idempotency key was used with a different request body")},
			request: spend(`{"amount_cents":12000,"currency":"usd","merchant_name":"AWS","reason":"GPU runtime for evaluation job","idempotency_key":"eval-job-42"}`)},
		{name: "error_rate_limited", description: "429 with a Retry-After longer than the client waits by itself: reported with when to retry",
			upstream: []reply{{Status: 429, Headers: map[string]string{"Request-Id": "rid_rl", "Retry-After": "30"}, Body: obj(`{"error":{"code":"rate_limited","message":"Rate limit exceeded"}}`)}},
			request:  spend(awsArgs)},
		{name: "error_internal", description: "500 internal_error three times: the outcome is unknown, retry with the same key",
			upstream: []reply{apiErr(500, "internal_error", "Internal error"), apiErr(500, "internal_error", "Internal error"), apiErr(500, "internal_error", "Internal error")},
			request:  spend(awsArgs)},
		{name: "error_html_502", description: "a proxy's HTML 502 page on every attempt",
			upstream: []reply{html502(), html502(), html502()}, request: spend(awsArgs)},
		{name: "error_truncated_200", description: "a 200 whose JSON body is cut short",
			upstream: []reply{{Status: 200, Headers: map[string]string{"Request-Id": "rid_trunc"}, BodyText: `{"id":"req_123","status":"appro`}}, request: spend(awsArgs)},
		{name: "error_html_balance", description: "an HTML 502 on get_balance: reads are safe to retry",
			upstream: []reply{html502(), html502(), html502()}, request: call(tools.GetBalance, `{}`)},
		{name: "retry_429_then_success", description: "429 with Retry-After: 1, then approved: one decision, the same Idempotency-Key on both attempts",
			upstream: []reply{{Status: 429, Headers: map[string]string{"Request-Id": "rid_rl", "Retry-After": "1"}, Body: obj(`{"error":{"code":"rate_limited","message":"Rate limit exceeded"}}`)}, ok(approvedBody)},
			request:  spend(awsArgs)},
		{name: "retry_503_then_success", description: "503, then approved: the same Idempotency-Key on both attempts",
			upstream: []reply{{Status: 503, Headers: map[string]string{"Request-Id": "rid_503"}, Body: obj(`{"error":{"code":"internal_error","message":"Service unavailable"}}`)}, ok(approvedBody)},
			request:  spend(awsArgs)},
		{name: "upstream_timeout", description: "the upstream never answers in time: the outcome is unknown, retry with the same key",
			upstream: []reply{{Status: 200, DelayMS: 5000, Body: obj(approvedBody)}, {Status: 200, DelayMS: 5000, Body: obj(approvedBody)}, {Status: 200, DelayMS: 5000, Body: obj(approvedBody)}},
			request:  spend(awsArgs)},

		// Invalid arguments: rejected before any request.
		{name: "invalid_missing_fields", description: "missing fields", request: spend(`{"merchant_name":"AWS"}`)},
		{name: "invalid_amount_decimal", description: "a decimal amount_cents", request: spend(`{"amount_cents":120.5,"currency":"usd","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_amount_zero", description: "amount_cents of 0", request: spend(`{"amount_cents":0,"currency":"usd","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_amount_negative", description: "a negative amount_cents", request: spend(`{"amount_cents":-500,"currency":"usd","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_amount_string", description: "amount_cents as a string such as \"120.00\"", request: spend(`{"amount_cents":"120.00","currency":"usd","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_amount_huge", description: "amount_cents above 2^53-1", request: spend(`{"amount_cents":90071992547409930,"currency":"usd","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_currency", description: "currency in capitals", request: spend(`{"amount_cents":100,"currency":"USD","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_merchant_too_long", description: "a merchant_name over 200 characters", request: spend(fmt.Sprintf(`{"amount_cents":100,"currency":"usd","merchant_name":%q,"reason":"x"}`, strings.Repeat("m", 201)))},
		{name: "invalid_reason_too_long", description: "a reason over 1000 characters", request: spend(fmt.Sprintf(`{"amount_cents":100,"currency":"usd","merchant_name":"AWS","reason":%q}`, strings.Repeat("r", 1001)))},
		{name: "invalid_reason_blank", description: "a reason of spaces only", request: spend(`{"amount_cents":100,"currency":"usd","merchant_name":"AWS","reason":"   "}`)},
		{name: "invalid_unknown_field", description: "a misspelt field", request: spend(`{"amount_cent":100,"currency":"usd","merchant_name":"AWS","reason":"x"}`)},
		{name: "invalid_idempotency_key_long", description: "an idempotency_key over 255 characters", request: spend(fmt.Sprintf(`{"amount_cents":100,"currency":"usd","merchant_name":"AWS","reason":"x","idempotency_key":%q}`, strings.Repeat("k", 256)))},
		{name: "invalid_arguments_not_object", description: "arguments that are not an object", request: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"request_spend","arguments":[1,2]}}`},
		{name: "invalid_spend_id_traversal", description: "a spend id that is a path (../balance)", request: status("../balance")},
		{name: "invalid_spend_id_missing", description: "get_spend_status without spend_id", request: call(tools.GetSpendStatus, `{}`)},
		{name: "invalid_balance_argument", description: "get_balance with an argument it does not take", request: call(tools.GetBalance, `{"account":"other"}`)},

		// Local guardrails.
		{name: "policy_max_amount", description: "--max-amount-cents refuses locally", policy: &tools.Policy{MaxAmountCents: 10000}, request: spend(awsArgs)},
		{name: "policy_merchant_allowlist", description: "--allow-merchant refuses a merchant not listed", policy: &tools.Policy{MerchantAllowlist: []string{"OpenAI", "Anthropic"}}, request: spend(awsArgs)},
		{name: "policy_merchant_allowed", description: "--allow-merchant lets a listed merchant through, compared case-insensitively",
			policy: &tools.Policy{MerchantAllowlist: []string{" aws "}}, upstream: []reply{ok(approvedBody)}, request: spend(awsArgs)},
		{name: "policy_read_only_call", description: "request_spend on a --read-only server is an unknown tool (it is not registered)", policy: &tools.Policy{ReadOnly: true}, request: spend(awsArgs)},
	}
	return s
}

func html502() reply {
	return reply{Status: 502, Headers: map[string]string{"Content-Type": "text/html"}, BodyText: "<html><body><h1>502 Bad Gateway</h1></body></html>"}
}

// scriptedUpstream answers with the scripted replies in order and records what it saw.
type scriptedUpstream struct {
	mu      sync.Mutex
	replies []reply
	seen    []seenRequest
}

func (u *scriptedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := r.Header.Get("Authorization")
	switch auth {
	case "Bearer " + goldenKey:
		auth = "Bearer <the spending key>"
	case "":
	default:
		auth = "<some other credential>"
	}
	sr := seenRequest{Method: r.Method, Path: r.URL.EscapedPath(), Authorization: auth, IdempotencyKey: r.Header.Get("Idempotency-Key"), ContentType: r.Header.Get("Content-Type")}
	if len(body) > 0 {
		sr.Body = body
	}
	u.mu.Lock()
	u.seen = append(u.seen, sr)
	var rep reply
	if len(u.replies) > 0 {
		rep, u.replies = u.replies[0], u.replies[1:]
	} else {
		rep = apiErr(500, "internal_error", "the script has no more replies")
	}
	u.mu.Unlock()
	if rep.DelayMS > 0 {
		select {
		case <-time.After(time.Duration(rep.DelayMS) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.Headers {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.Status)
	if rep.BodyText != "" {
		_, _ = io.WriteString(w, rep.BodyText)
	} else {
		_, _ = w.Write(rep.Body)
	}
}

func runScenario(t *testing.T, sc scenario) transcript {
	t.Helper()
	up := &scriptedUpstream{replies: append([]reply(nil), sc.upstream...)}
	srv := httptest.NewServer(up)
	defer srv.Close()
	client, err := dinoapi.NewClient(dinoapi.Config{APIKey: goldenKey, BaseURL: srv.URL, Timeout: time.Second,
		InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxRetryAfter: 2 * time.Second})
	require.NoError(t, err)
	var policy tools.Policy
	if sc.policy != nil {
		policy = *sc.policy
	}
	n := 0
	s := tools.NewServer(tools.Options{Client: tools.StaticClient(client), Policy: policy, PollInterval: 5 * time.Millisecond,
		NewIdempotencyKey: func() string { n++; return fmt.Sprintf("minted-key-%04d", n) }})
	resp := s.HandleMessage(context.Background(), json.RawMessage(sc.request))
	raw, err := json.Marshal(resp)
	require.NoError(t, err)
	up.mu.Lock()
	defer up.mu.Unlock()
	return transcript{Description: sc.description, Policy: sc.policy, Upstream: sc.upstream, Request: json.RawMessage(sc.request),
		UpstreamRequests: append([]seenRequest{}, up.seen...), Response: raw}
}

func encodeTranscript(t *testing.T, tr transcript) []byte {
	t.Helper()
	b, err := json.Marshal(tr)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

func goldenPath(name string) string { return filepath.Join("..", "testdata", "golden", name+".json") }

// TestGoldenTranscripts replays every scenario and compares the whole transcript with its file.
// go test ./tools -update rewrites the files; any drift fails.
func TestGoldenTranscripts(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range scenarios() {
		seen[sc.name+".json"] = true
		t.Run(sc.name, func(t *testing.T) {
			tr := runScenario(t, sc)
			got := encodeTranscript(t, tr)
			assert.NotContains(t, string(got), goldenKey, "the spending key leaked into the transcript")
			path := goldenPath(sc.name)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden file: run go test ./tools -update")
			assert.Equal(t, string(want), string(got), "transcript drifted from %s; if the change is intended run go test ./tools -update", path)
		})
	}
	if !*update {
		entries, err := os.ReadDir(filepath.Join("..", "testdata", "golden"))
		require.NoError(t, err)
		for _, e := range entries {
			assert.True(t, seen[e.Name()], "golden file %s has no scenario: delete it or add the scenario", e.Name())
		}
	}
}

// goldenFiles loads every transcript on disk.
func goldenFiles(t *testing.T) map[string]transcript {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "golden", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	out := map[string]transcript{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var tr transcript
		require.NoError(t, json.Unmarshal(b, &tr), p)
		out[filepath.Base(p)] = tr
	}
	return out
}

// TestGoldenUpstreamRepliesMatchSchemas checks every scripted JSON reply against schemas/: a
// success body against the spend or balance schema, an error body against the error schema.
func TestGoldenUpstreamRepliesMatchSchemas(t *testing.T) {
	checked := 0
	for name, tr := range goldenFiles(t) {
		for i, rep := range tr.Upstream {
			if len(rep.Body) == 0 {
				continue // a deliberately broken body (HTML, truncated)
			}
			schema := schemas.Error
			if rep.Status == 200 {
				schema = schemas.Spend
				if strings.Contains(string(tr.Request), `"get_balance"`) {
					schema = schemas.Balance
				}
			}
			errs := schemas.ValidateJSON(schema, rep.Body)
			assert.Empty(t, errs, "%s reply %d does not match %s", name, i, schema)
			checked++
		}
	}
	assert.Greater(t, checked, 30)
}
