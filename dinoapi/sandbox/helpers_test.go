package sandbox

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

// fixture is a sandbox on a real SQLite file with one team, wallet, account and key.
type fixture struct {
	sb    *Sandbox
	clock *fakeClock
	acct  Account
	key   Key
	plain string
}

type acctOpts struct {
	budget, maxTx int64
	threshold     *int64
	period        string
	wallet, plan  int64
	ttl           time.Duration
	path          string
}

func newFixture(t testing.TB, o acctOpts) *fixture {
	t.Helper()
	if o.budget == 0 {
		o.budget = 50_000
	}
	if o.maxTx == 0 {
		o.maxTx = 20_000
	}
	if o.period == "" {
		o.period = dinoapi.PeriodMonthly
	}
	if o.wallet == 0 {
		o.wallet = 10_000_000
	}
	if o.plan == 0 {
		o.plan = 100_000_000
	}
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "sandbox.db")
	}
	ctx := context.Background()
	st, err := OpenStore(ctx, o.path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	sb := New(st, Config{Clock: clock, PublicURL: "http://sandbox.test", ApprovalTTL: o.ttl})
	require.NoError(t, sb.EnsureTeam(ctx, "Test team", "usd", o.plan))
	_, err = sb.FundWallet(ctx, o.wallet, "test")
	require.NoError(t, err)
	a, err := sb.CreateAccount(ctx, AccountParams{Name: ptr("agent"), BudgetCents: &o.budget, MaxTransactionCents: &o.maxTx, ApprovalThresholdCents: o.threshold, BudgetPeriod: &o.period}, "test")
	require.NoError(t, err)
	plain, k, err := sb.IssueKey(ctx, a.ID, "test")
	require.NoError(t, err)
	return &fixture{sb: sb, clock: clock, acct: a, key: k, plain: plain}
}

var idemCounter struct {
	sync.Mutex
	n int
}

func nextIdem() string {
	idemCounter.Lock()
	defer idemCounter.Unlock()
	idemCounter.n++
	return "idem-" + time.Now().Format("150405.000000000") + "-" + string(rune('a'+idemCounter.n%26)) + itoa(idemCounter.n)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func spendReq(amount int64) dinoapi.SpendRequest {
	return dinoapi.SpendRequest{AmountCents: amount, Currency: "usd", MerchantName: "AWS", Reason: "test"}
}

func (f *fixture) decide(t *testing.T, amount int64) (Decision, error) {
	t.Helper()
	return f.sb.Decide(context.Background(), f.key, spendReq(amount), nextIdem())
}

func (f *fixture) mustDecide(t *testing.T, amount int64) dinoapi.Spend {
	t.Helper()
	d, err := f.decide(t, amount)
	require.NoError(t, err)
	return d.Spend
}

func (f *fixture) invariants(t *testing.T) {
	t.Helper()
	require.Empty(t, f.sb.CheckInvariants(context.Background()))
}
