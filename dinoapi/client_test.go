package dinoapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
)

const key = "dino_sk_test_client_secret_value"

func newClient(t *testing.T, url string, mod ...func(*dinoapi.Config)) *dinoapi.Client {
	t.Helper()
	cfg := dinoapi.Config{APIKey: key, BaseURL: url, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Timeout: time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := dinoapi.NewClient(cfg)
	require.NoError(t, err)
	return c
}

const approved = `{"id":"req_1","status":"approved","decision_reason":"Spend request approved","budget_period":"monthly","remaining_budget_cents":100,"remaining_monthly_budget_cents":100,"amount_cents":5,"currency":"usd","merchant_name":"AWS"}`

func TestBaseURLMustBeHTTPSUnlessLoopback(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://api.dino.id", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:1", true},
		{"http://[::1]:9", true},
		{"http://api.dino.id", false},
		{"http://10.0.0.5:8080", false},
		{"ftp://api.dino.id", false},
		{"https://user:pw@api.dino.id", false},
		{"api.dino.id", false},
	} {
		_, err := dinoapi.NewClient(dinoapi.Config{APIKey: key, BaseURL: tc.url})
		if tc.ok {
			assert.NoError(t, err, tc.url)
		} else {
			assert.Error(t, err, tc.url)
		}
	}
}

func TestKeyChecksNeverEchoTheKey(t *testing.T) {
	for _, bad := range []string{"", "abc def", "abc\n", strings.Repeat("k", 513)} {
		_, err := dinoapi.NewClient(dinoapi.Config{APIKey: bad})
		require.Error(t, err)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad)
		}
	}
}

func TestRequestShapeAndHeaders(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		body = string(b[:n])
		w.Header().Set("Request-Id", "rid_1")
		_, _ = w.Write([]byte(approved))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	s, err := c.CreateSpend(context.Background(), dinoapi.SpendRequest{AmountCents: 5, Currency: "usd", MerchantName: "AWS", Reason: "r"}, "idem-1")
	require.NoError(t, err)
	assert.Equal(t, "req_1", s.ID)
	assert.Equal(t, "rid_1", s.Meta.RequestID)
	assert.Equal(t, 1, s.Meta.Attempts)
	assert.Equal(t, "POST", got.Method)
	assert.Equal(t, "/v1/spend", got.URL.Path)
	assert.Equal(t, "Bearer "+key, got.Header.Get("Authorization"))
	assert.Equal(t, "idem-1", got.Header.Get("Idempotency-Key"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(got.Header.Get("User-Agent"), "dino-mcp/"+dinoapi.Version), got.Header.Get("User-Agent"))
	assert.JSONEq(t, `{"amount_cents":5,"currency":"usd","merchant_name":"AWS","reason":"r"}`, body)
}

func TestSpendIDIsValidatedBeforeAnyRequest(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	c := newClient(t, srv.URL)
	for _, id := range []string{"../balance", "req_1/../../balance", "req_%2e%2e", "", "req_", "spend_1", "req_a b", "req_1?x=1"} {
		_, err := c.GetSpend(context.Background(), id)
		assert.ErrorIs(t, err, dinoapi.ErrInvalidSpendID, id)
	}
	assert.Zero(t, hits)
}

// flaky answers with the given statuses in turn, then approves; it records the keys it saw.
type flaky struct {
	mu       sync.Mutex
	statuses []int
	header   http.Header
	keys     []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	var st int
	if len(f.statuses) > 0 {
		st, f.statuses = f.statuses[0], f.statuses[1:]
	}
	f.mu.Unlock()
	if st == 0 {
		_, _ = w.Write([]byte(approved))
		return
	}
	for k, v := range f.header {
		w.Header()[k] = v
	}
	if st == -1 { // drop the connection
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		_ = conn.Close()
		return
	}
	w.WriteHeader(st)
	_, _ = w.Write([]byte(`{"error":{"code":"internal_error","message":"boom"}}`))
}

func TestRetriesKeepTheIdempotencyKey(t *testing.T) {
	f := &flaky{statuses: []int{503, -1, 409}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL, func(c *dinoapi.Config) { c.MaxRetries = 3 })
	s, err := c.CreateSpend(context.Background(), dinoapi.SpendRequest{AmountCents: 5, Currency: "usd", MerchantName: "AWS", Reason: "r"}, "idem-keep")
	require.NoError(t, err)
	// net/http itself replays a request carrying an Idempotency-Key when the connection drops
	// before any reply, so the server may see one more attempt than the client counts.
	assert.GreaterOrEqual(t, s.Meta.Attempts, 3)
	assert.GreaterOrEqual(t, len(f.keys), 4)
	for _, k := range f.keys {
		assert.Equal(t, "idem-keep", k)
	}
}

func TestNoRetryOnDecisionsOrClientErrors(t *testing.T) {
	for _, st := range []int{400, 401, 402, 404, 422} {
		f := &flaky{statuses: []int{st}}
		srv := httptest.NewServer(f)
		c := newClient(t, srv.URL)
		_, err := c.GetBalance(context.Background())
		var apiErr *dinoapi.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, st, apiErr.HTTPStatus)
		assert.Len(t, f.keys, 1, "status %d must not be retried", st)
		srv.Close()
	}
}

func TestRetriesAreBounded(t *testing.T) {
	f := &flaky{statuses: []int{500, 500, 500, 500, 500, 500}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL, func(c *dinoapi.Config) { c.MaxRetries = 2 })
	_, err := c.GetBalance(context.Background())
	var apiErr *dinoapi.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 3, apiErr.Attempts)
	assert.Len(t, f.keys, 3)

	f2 := &flaky{statuses: []int{500, 500}}
	srv2 := httptest.NewServer(f2)
	defer srv2.Close()
	c2 := newClient(t, srv2.URL, func(c *dinoapi.Config) { c.MaxRetries = dinoapi.NoRetries })
	_, err = c2.GetBalance(context.Background())
	require.Error(t, err)
	assert.Len(t, f2.keys, 1)
}

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	f := &flaky{statuses: []int{429}, header: http.Header{"Retry-After": {"1"}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL)
	start := time.Now()
	_, err := c.GetSpend(context.Background(), "req_1")
	require.NoError(t, err)
	assert.Len(t, f.keys, 2)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After: 1 must be waited out")

	// A Retry-After beyond MaxRetryAfter ends the call at once with the wait in the error.
	f2 := &flaky{statuses: []int{429}, header: http.Header{"Retry-After": {"120"}}}
	srv2 := httptest.NewServer(f2)
	defer srv2.Close()
	_, err = newClient(t, srv2.URL).GetBalance(context.Background())
	var apiErr *dinoapi.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 120*time.Second, apiErr.RetryAfter)
	assert.Len(t, f2.keys, 1)
}

func TestContextBoundsTheWholeCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(c *dinoapi.Config) {
		c.MaxRetries = 10
		c.InitialBackoff, c.MaxBackoff = 200*time.Millisecond, 200*time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.GetBalance(ctx)
	var apiErr *dinoapi.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Less(t, apiErr.Attempts, 10, "the deadline, not the retry count, ended the call")
}

func TestResponseSizeIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":"req_1","status":"approved","pad":"` + strings.Repeat("x", 4096) + `"}`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(c *dinoapi.Config) { c.MaxResponseBytes = 1024 })
	_, err := c.GetSpend(context.Background(), "req_1")
	var apiErr *dinoapi.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, dinoapi.CodeInvalidResponse, apiErr.Code)
	assert.Contains(t, apiErr.Message, "1024-byte limit")
}

func TestTransportErrorsNeverCarryTheKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens now
	c := newClient(t, url)
	_, err := c.CreateSpend(context.Background(), dinoapi.SpendRequest{AmountCents: 1, Currency: "usd", MerchantName: "m", Reason: "r"}, "k1")
	var te *dinoapi.TransportError
	require.True(t, errors.As(err, &te), "%v", err)
	assert.Equal(t, "k1", te.IdempotencyKey)
	assert.Equal(t, 3, te.Attempts)
	assert.NotContains(t, err.Error(), key)
}

func TestWithKeySpendsWithTheOtherKey(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(approved))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	other, err := c.WithKey("dino_sk_other")
	require.NoError(t, err)
	_, _ = other.GetSpend(context.Background(), "req_1")
	_, _ = c.GetSpend(context.Background(), "req_1")
	assert.Equal(t, []string{"Bearer dino_sk_other", "Bearer " + key}, auth)
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		cents int64
		cur   string
		want  string
	}{
		{12000, "usd", "120.00 USD"},
		{5, "usd", "0.05 USD"},
		{0, "usd", "0.00 USD"},
		{123456789, "usd", "1,234,567.89 USD"},
		{500, "jpy", "500 JPY"},
		{1234, "kwd", "1.234 KWD"},
		{-250, "eur", "-2.50 EUR"},
		{-9223372036854775808, "usd", "-92,233,720,368,547,758.08 USD"},
		{9007199254740991, "usd", "90,071,992,547,409.91 USD"},
	} {
		assert.Equal(t, tc.want, dinoapi.FormatAmount(tc.cents, tc.cur))
	}
}
