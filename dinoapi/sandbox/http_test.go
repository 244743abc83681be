package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/schemas"
)

const testAdminToken = "test_admin_token_0123456789"

type httpFixture struct {
	*fixture
	srv *Server
	ts  *httptest.Server
}

func newHTTPFixture(t testing.TB, o acctOpts, rps float64, burst int) *httpFixture {
	t.Helper()
	f := newFixture(t, o)
	srv, err := NewServer(f.sb, ServerConfig{AdminToken: testAdminToken, RatePerSecond: rps, RateBurst: burst, Logger: zerolog.Nop()})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	f.sb.SetPublicURL(ts.URL)
	return &httpFixture{fixture: f, srv: srv, ts: ts}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errCode() string {
	var e struct {
		Error struct{ Code, Param string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (h *httpFixture) do(t testing.TB, method, path, key, idem, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := h.ts.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func spendBody(amount int64) string {
	return fmt.Sprintf(`{"amount_cents":%d,"currency":"usd","merchant_name":"AWS","reason":"GPU runtime"}`, amount)
}

// TestHTTPErrorCodes: every /v1 error code with its HTTP status, the error shape, and a
// Request-Id on every response.
func TestHTTPErrorCodes(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{wallet: 1_000, maxTx: 50_000}, 0, 0)
	ctx := context.Background()
	_, revokedKey, err := h.sb.IssueKey(ctx, h.acct.ID, "op")
	require.NoError(t, err)
	revokedPlain, k2, err := h.sb.IssueKey(ctx, h.acct.ID, "op")
	require.NoError(t, err)
	_ = revokedKey
	_, err = h.sb.RevokeKey(ctx, k2.ID, "op")
	require.NoError(t, err)
	other, err := h.sb.CreateAccount(ctx, AccountParams{Name: ptr("other"), BudgetCents: ptr[int64](100), MaxTransactionCents: ptr[int64](100)}, "op")
	require.NoError(t, err)
	otherKey, _, err := h.sb.IssueKey(ctx, other.ID, "op")
	require.NoError(t, err)
	mine := h.do(t, "POST", "/v1/spend", h.plain, "mine", spendBody(100))
	require.Equal(t, 200, mine.status, string(mine.body))
	var mineSpend dinoapi.Spend
	require.NoError(t, json.Unmarshal(mine.body, &mineSpend))

	h.srv.inflight.Store(h.key.ID+"\x00busy", struct{}{})
	for _, tc := range []struct {
		name, method, path, key, idem, body string
		status                              int
		code, param                         string
	}{
		{"no key", "GET", "/v1/balance", "", "", "", 401, dinoapi.CodeInvalidAPIKey, ""},
		{"malformed header", "GET", "/v1/balance", "", "", "", 401, dinoapi.CodeInvalidAPIKey, ""},
		{"unknown key", "GET", "/v1/balance", "dino_sk_sandbox_nope", "", "", 401, dinoapi.CodeInvalidAPIKey, ""},
		{"revoked key", "GET", "/v1/balance", revokedPlain, "", "", 401, dinoapi.CodeRevokedAPIKey, ""},
		{"no idempotency key", "POST", "/v1/spend", h.plain, "", spendBody(100), 400, dinoapi.CodeInvalidRequest, "Idempotency-Key"},
		{"long idempotency key", "POST", "/v1/spend", h.plain, strings.Repeat("k", 256), spendBody(100), 400, dinoapi.CodeInvalidRequest, "Idempotency-Key"},
		{"string amount", "POST", "/v1/spend", h.plain, "a1", `{"amount_cents":"120.00","currency":"usd","merchant_name":"AWS","reason":"r"}`, 400, dinoapi.CodeInvalidRequest, "amount_cents"},
		{"unknown field", "POST", "/v1/spend", h.plain, "a2", `{"amount_cents":1,"currency":"usd","merchant_name":"AWS","reason":"r","tip":5}`, 400, dinoapi.CodeInvalidRequest, "tip"},
		{"not json", "POST", "/v1/spend", h.plain, "a3", `<html>`, 400, dinoapi.CodeInvalidRequest, ""},
		{"oversized body", "POST", "/v1/spend", h.plain, "a4", `{"amount_cents":1,"currency":"usd","merchant_name":"AWS","reason":"` + strings.Repeat("x", MaxSpendBodyBytes) + `"}`, 400, dinoapi.CodeInvalidRequest, ""},
		{"wrong currency", "POST", "/v1/spend", h.plain, "a5", `{"amount_cents":1,"currency":"eur","merchant_name":"AWS","reason":"r"}`, 400, dinoapi.CodeInvalidRequest, "currency"},
		{"wallet cannot cover", "POST", "/v1/spend", h.plain, "a6", spendBody(5_000), 402, dinoapi.CodeFundingSourceBudgetExceeded, ""},
		{"in flight", "POST", "/v1/spend", h.plain, "busy", spendBody(100), 409, dinoapi.CodeIdempotencyKeyInUse, "Idempotency-Key"},
		{"reused key", "POST", "/v1/spend", h.plain, "mine", spendBody(101), 422, dinoapi.CodeIdempotencyKeyReused, "Idempotency-Key"},
		{"missing spend", "GET", "/v1/spend/req_nope", h.plain, "", "", 404, dinoapi.CodeNotFound, "id"},
		{"traversal id", "GET", "/v1/spend/..%2Fbalance", h.plain, "", "", 404, dinoapi.CodeNotFound, "id"},
		{"another account's spend", "GET", "/v1/spend/" + mineSpend.ID, otherKey, "", "", 404, dinoapi.CodeNotFound, "id"},
		{"unknown endpoint", "GET", "/v1/cards", h.plain, "", "", 404, dinoapi.CodeNotFound, ""},
		{"wrong method", "DELETE", "/v1/spend", h.plain, "", "", 405, dinoapi.CodeInvalidRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if tc.name == "malformed header" {
				req, _ := http.NewRequest("GET", h.ts.URL+tc.path, nil)
				req.Header.Set("Authorization", "Basic abc")
				res, err := h.ts.Client().Do(req)
				require.NoError(t, err)
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				r = resp{status: res.StatusCode, header: res.Header, body: b}
			} else {
				r = h.do(t, tc.method, tc.path, tc.key, tc.idem, tc.body)
			}
			assert.Equal(t, tc.status, r.status, string(r.body))
			assert.Equal(t, tc.code, r.errCode(), string(r.body))
			assert.Empty(t, schemas.ValidateJSON(schemas.Error, r.body), string(r.body))
			if tc.param != "" {
				assert.Contains(t, string(r.body), `"param":"`+tc.param+`"`)
			}
			assert.NotEmpty(t, r.header.Get("Request-Id"))
			if tc.status == 401 {
				assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
			}
			if tc.status == 409 {
				assert.Equal(t, "1", r.header.Get("Retry-After"))
			}
		})
	}
	ok := h.do(t, "GET", "/v1/balance", h.plain, "", "")
	assert.Equal(t, 200, ok.status)
	assert.NotEmpty(t, ok.header.Get("Request-Id"))
	assert.Empty(t, schemas.ValidateJSON(schemas.Balance, ok.body))
	assert.Empty(t, schemas.ValidateJSON(schemas.Spend, mine.body))
	h.invariants(t)
}

func TestRateLimitRunsBeforeValidationAndIdempotency(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{}, 1, 3)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	h.srv.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		r := h.do(t, "POST", "/v1/spend", h.plain, "", spendBody(1)) // invalid: no Idempotency-Key
		assert.Equal(t, 400, r.status)
	}
	r := h.do(t, "POST", "/v1/spend", h.plain, "", spendBody(1))
	assert.Equal(t, 429, r.status)
	assert.Equal(t, dinoapi.CodeRateLimited, r.errCode())
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	// Another key has its own bucket.
	plain2, _, err := h.sb.IssueKey(context.Background(), h.acct.ID, "op")
	require.NoError(t, err)
	assert.Equal(t, 200, h.do(t, "GET", "/v1/balance", plain2, "", "").status)
	// The bucket refills with time.
	now = now.Add(2 * time.Second)
	assert.Equal(t, 200, h.do(t, "GET", "/v1/balance", h.plain, "", "").status)
}

func TestAdminAPI(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{threshold: ptr[int64](10_000)}, 0, 0)
	admin := func(method, path, body string) resp { return h.do(t, method, path, testAdminToken, "", body) }
	// A spending key never opens the admin API.
	r := h.do(t, "GET", "/admin/v1/approvals", h.plain, "", "")
	assert.Equal(t, 401, r.status)
	assert.Equal(t, 401, h.do(t, "GET", "/admin/v1/team", "", "", "").status)

	p := h.do(t, "POST", "/v1/spend", h.plain, "p1", spendBody(15_000))
	var sp dinoapi.Spend
	require.NoError(t, json.Unmarshal(p.body, &sp))
	require.Equal(t, "needs_approval", sp.Status)
	assert.Equal(t, h.ts.URL+"/agents/approvals?spendRequestId="+sp.ID, sp.ApprovalURL)

	r = admin("GET", "/admin/v1/approvals", "")
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), sp.ID)
	r = admin("POST", "/admin/v1/spend/"+sp.ID+"/approve", `{"operator":"alice"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Contains(t, string(r.body), `"status":"approved"`)
	r = admin("POST", "/admin/v1/spend/"+sp.ID+"/approve", `{}`)
	assert.Equal(t, 409, r.status)
	assert.Equal(t, CodeAlreadyDecided, r.errCode())
	g := h.do(t, "GET", "/v1/spend/"+sp.ID, h.plain, "", "")
	assert.Contains(t, string(g.body), `"status":"approved"`)

	r = admin("POST", "/admin/v1/accounts", `{"name":"ci-bot","budget_cents":5000,"budget_period":"daily","max_transaction_cents":1000}`)
	require.Equal(t, 200, r.status, string(r.body))
	r = admin("POST", "/admin/v1/accounts", `{"name":"x","budget_cents":5000,"max_transaction_cents":1000,"budgett":1}`)
	assert.Equal(t, 400, r.status)
	assert.Contains(t, string(r.body), "budgett")
	r = admin("PATCH", "/admin/v1/accounts/ci-bot", `{"budget_cents":7000}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Contains(t, string(r.body), `"budget_cents":7000`)
	r = admin("POST", "/admin/v1/accounts/ci-bot/keys", ``)
	require.Equal(t, 200, r.status)
	var issued struct {
		Key         string `json:"key"`
		SpendingKey Key    `json:"spending_key"`
	}
	require.NoError(t, json.Unmarshal(r.body, &issued))
	assert.True(t, strings.HasPrefix(issued.Key, SandboxKeyPrefix))
	assert.Equal(t, 200, h.do(t, "GET", "/v1/balance", issued.Key, "", "").status)
	r = admin("GET", "/admin/v1/accounts/ci-bot/keys", "")
	assert.NotContains(t, string(r.body), issued.Key, "listing never shows a plaintext key")
	r = admin("POST", "/admin/v1/keys/"+issued.SpendingKey.ID+"/revoke", `{}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, dinoapi.CodeRevokedAPIKey, h.do(t, "GET", "/v1/balance", issued.Key, "", "").errCode())
	r = admin("POST", "/admin/v1/wallet/fund", `{"amount_cents":500}`)
	require.Equal(t, 200, r.status)
	r = admin("POST", "/admin/v1/wallet/fund", `{"amount_cents":0}`)
	assert.Equal(t, 400, r.status)
	r = admin("GET", "/admin/v1/ledger?account=agent&kind=approval_approved", "")
	require.Equal(t, 200, r.status)
	var entries []LedgerEntry
	require.NoError(t, json.Unmarshal(r.body, &entries))
	require.Len(t, entries, 1)
	assert.Equal(t, "operator:alice", entries[0].Actor)
	r = admin("GET", "/admin/v1/ledger?since=yesterday", "")
	assert.Equal(t, 400, r.status)
	assert.Equal(t, 404, admin("GET", "/admin/v1/nothing", "").status)
	h.invariants(t)
}

// burst runs fn(0..n-1) on n goroutines released together, and waits for all of them.
func burst(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			fn(i)
		}(i)
	}
	close(start)
	wg.Wait()
}

// TestConcurrentSpendNeverExceedsBudget sends 240 concurrent requests at one budget over real
// HTTP: the approved sum stays within the budget, each request gets exactly one decision, and
// the ledger agrees with the balance.
func TestConcurrentSpendNeverExceedsBudget(t *testing.T) {
	const n, amount, budget = 240, 700, 50_000 // 71 of 240 fit
	h := newHTTPFixture(t, acctOpts{budget: budget, maxTx: 10_000}, 0, 0)
	type result struct {
		status int
		spend  dinoapi.Spend
	}
	results := make([]result, n)
	burst(n, func(i int) {
		r := h.do(t, "POST", "/v1/spend", h.plain, fmt.Sprintf("c-%d", i), spendBody(amount))
		results[i].status = r.status
		_ = json.Unmarshal(r.body, &results[i].spend)
	})
	var approved, declined int64
	ids := map[string]bool{}
	for i, r := range results {
		require.Equal(t, 200, r.status, "request %d", i)
		require.False(t, ids[r.spend.ID], "two requests got one id")
		ids[r.spend.ID] = true
		switch r.spend.Status {
		case "approved":
			approved++
		case "declined":
			declined++
			assert.Equal(t, ReasonOverBudget, r.spend.DecisionReason)
		default:
			t.Fatalf("unexpected status %q", r.spend.Status)
		}
	}
	assert.EqualValues(t, budget/amount, approved, "exactly as many as fit are approved")
	assert.LessOrEqual(t, approved*amount, int64(budget))
	assert.EqualValues(t, n, approved+declined)
	b, err := h.sb.Balance(context.Background(), h.acct.ID)
	require.NoError(t, err)
	assert.Equal(t, approved*amount, b.SpentCents)
	entries, err := h.sb.Ledger(context.Background(), LedgerFilter{AccountID: h.acct.ID})
	require.NoError(t, err)
	var debits, decisions int64
	for _, e := range entries {
		debits += e.DebitCents
		if strings.HasPrefix(e.Kind, "spend_") {
			decisions++
		}
	}
	assert.Equal(t, b.SpentCents, debits)
	assert.EqualValues(t, n, decisions)
	h.invariants(t)
}

// TestConcurrentSameIdempotencyKey: one key sent concurrently is decided once; every 200 is
// byte-identical, the rest are 409 in use; retries after the fact replay the same bytes.
func TestConcurrentSameIdempotencyKey(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{}, 0, 0)
	const n = 64
	bodies := make([][]byte, n)
	statuses := make([]int, n)
	burst(n, func(i int) {
		r := h.do(t, "POST", "/v1/spend", h.plain, "one-intent", spendBody(1_234))
		statuses[i], bodies[i] = r.status, r.body
	})
	var first []byte
	ok := 0
	for i := range statuses {
		switch statuses[i] {
		case 200:
			ok++
			if first == nil {
				first = bodies[i]
			}
			assert.True(t, bytes.Equal(first, bodies[i]), "replays must be byte-identical")
		case 409:
			assert.Contains(t, string(bodies[i]), dinoapi.CodeIdempotencyKeyInUse)
		default:
			t.Fatalf("status %d: %s", statuses[i], bodies[i])
		}
	}
	require.Positive(t, ok)
	for i := 0; i < 5; i++ {
		r := h.do(t, "POST", "/v1/spend", h.plain, "one-intent", spendBody(1_234))
		require.Equal(t, 200, r.status)
		assert.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
		assert.True(t, bytes.Equal(first, r.body))
	}
	var spends, entries int
	require.NoError(t, h.sb.store.db.QueryRow(`SELECT COUNT(*) FROM spend_requests`).Scan(&spends))
	require.NoError(t, h.sb.store.db.QueryRow(`SELECT COUNT(*) FROM ledger WHERE kind LIKE 'spend_%'`).Scan(&entries))
	assert.Equal(t, 1, spends)
	assert.Equal(t, 1, entries)
	h.invariants(t)
}

// TestClientRetriesAgainstTheSandbox: the dinoapi client's retries of 409 end in a replay of the
// single decision.
func TestClientRetriesAgainstTheSandbox(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{}, 0, 0)
	c, err := dinoapi.NewClient(dinoapi.Config{APIKey: h.plain, BaseURL: h.ts.URL, InitialBackoff: 5 * time.Millisecond, MaxRetries: 10, MaxRetryAfter: 2 * time.Second})
	require.NoError(t, err)
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := c.CreateSpend(context.Background(), spendReq(999), "retry-intent")
			if assert.NoError(t, err) {
				ids[i] = s.ID
			}
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	h.invariants(t)
}

// TestInternalErrorsCarryNoInternals: a failure below the API (here the database is gone) is a
// 500 internal_error whose body names no internals.
func TestInternalErrorsCarryNoInternals(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{}, 0, 0)
	plain := h.plain
	require.NoError(t, h.sb.store.Close())
	r := h.do(t, "GET", "/v1/balance", plain, "", "")
	assert.Equal(t, 500, r.status)
	assert.Equal(t, dinoapi.CodeInternalError, r.errCode())
	assert.NotContains(t, strings.ToLower(string(r.body)), "sql")
	assert.NotContains(t, strings.ToLower(string(r.body)), "database")
	assert.NotEmpty(t, r.header.Get("Request-Id"))
}

// TestDashboardEscapesAgentText: merchant names and reasons come from agents and are shown to
// operators, so they must be rendered as text, never as markup.
func TestDashboardEscapesAgentText(t *testing.T) {
	h := newHTTPFixture(t, acctOpts{threshold: ptr[int64](100)}, 0, 0)
	evil := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	r := h.do(t, "POST", "/v1/spend", h.plain, "xss", fmt.Sprintf(`{"amount_cents":500,"currency":"usd","merchant_name":%q,"reason":%q}`, evil, evil))
	require.Equal(t, 200, r.status, string(r.body))
	var sp dinoapi.Spend
	require.NoError(t, json.Unmarshal(r.body, &sp))

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(h.ts.URL+"/login", map[string][]string{"token": {testAdminToken}, "next": {"/agents/approvals"}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	for _, path := range []string{"/agents/approvals?spendRequestId=" + sp.ID, "/agents/approvals", "/ledger"} {
		res, err := c.Get(h.ts.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode, path)
		assert.NotContains(t, string(body), "<script>alert", path)
		assert.NotContains(t, string(body), "<img src=x", path)
		assert.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'none'", path)
	}
	res, err = c.Get(h.ts.URL + "/agents/approvals?spendRequestId=" + sp.ID)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Contains(t, string(body), "&lt;script&gt;alert(1)&lt;/script&gt;")
}
