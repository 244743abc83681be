package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
)

func apiCode(err error) string {
	var ae *dinoapi.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err != nil {
		return "non-api: " + err.Error()
	}
	return ""
}

// TestDecisionOrder covers every branch of the decision order, one table row each.
func TestDecisionOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       acctOpts
		prior      []int64 // approved before the request under test
		amount     int64
		wantStatus string
		wantReason string
		wantCode   string
		remaining  int64
	}{
		{name: "approved", amount: 12_000, wantStatus: "approved", wantReason: ReasonApproved, remaining: 38_000},
		{name: "max transaction declines before threshold and budget", opts: acctOpts{maxTx: 10_000, threshold: ptr[int64](5_000)}, amount: 10_001, wantStatus: "declined", wantReason: ReasonOverMaxTx, remaining: 50_000},
		{name: "max transaction itself is allowed", opts: acctOpts{maxTx: 10_000}, amount: 10_000, wantStatus: "approved", remaining: 40_000},
		{name: "at the threshold needs approval", opts: acctOpts{threshold: ptr[int64](10_000)}, amount: 10_000, wantStatus: "needs_approval", wantReason: ReasonNeedsApproval, remaining: 50_000},
		{name: "below the threshold is decided by policy", opts: acctOpts{threshold: ptr[int64](10_000)}, amount: 9_999, wantStatus: "approved", remaining: 40_001},
		{name: "threshold comes before the budget", opts: acctOpts{threshold: ptr[int64](10_000)}, prior: []int64{9_000, 9_000, 9_000, 9_000, 9_000}, amount: 15_000, wantStatus: "needs_approval", remaining: 5_000},
		{name: "over the period budget declines", prior: []int64{20_000, 20_000}, amount: 12_000, wantStatus: "declined", wantReason: ReasonOverBudget, remaining: 10_000},
		{name: "exactly the remaining budget is approved", prior: []int64{20_000, 20_000}, amount: 10_000, wantStatus: "approved", remaining: 0},
		{name: "plan volume is an error after the budget", opts: acctOpts{plan: 15_000}, prior: []int64{10_000}, amount: 6_000, wantCode: dinoapi.CodePlanSpendVolumeExceeded},
		{name: "funding source is an error", opts: acctOpts{wallet: 5_000}, amount: 6_000, wantCode: dinoapi.CodeFundingSourceBudgetExceeded},
		{name: "plan is checked before funding", opts: acctOpts{wallet: 1_000, plan: 1_000}, amount: 2_000, wantCode: dinoapi.CodePlanSpendVolumeExceeded},
		{name: "budget decline wins over an empty wallet", opts: acctOpts{wallet: 1}, prior: []int64{}, amount: 60_000, wantStatus: "declined", wantReason: ReasonOverMaxTx, remaining: 50_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			for _, p := range tc.prior {
				require.Equal(t, "approved", f.mustDecide(t, p).Status)
			}
			d, err := f.decide(t, tc.amount)
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, apiCode(err))
				var ae *dinoapi.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, 402, ae.HTTPStatus)
				// An error is not a decision: nothing was stored.
				n := 0
				require.NoError(t, f.sb.store.db.QueryRow(`SELECT COUNT(*) FROM spend_requests`).Scan(&n))
				assert.Equal(t, len(tc.prior), n)
				f.invariants(t)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantStatus, d.Spend.Status)
			if tc.wantReason != "" {
				assert.Equal(t, tc.wantReason, d.Spend.DecisionReason)
			}
			assert.Equal(t, tc.remaining, d.Spend.RemainingBudgetCents)
			assert.Equal(t, tc.remaining, d.Spend.RemainingMonthlyBudgetCents)
			if tc.wantStatus == "needs_approval" {
				assert.Equal(t, "http://sandbox.test/agents/approvals?spendRequestId="+d.Spend.ID, d.Spend.ApprovalURL)
			} else {
				assert.Empty(t, d.Spend.ApprovalURL)
			}
			f.invariants(t)
		})
	}
}

func TestCurrencyMustMatchTheAccount(t *testing.T) {
	f := newFixture(t, acctOpts{})
	req := spendReq(100)
	req.Currency = "eur"
	_, err := f.sb.Decide(context.Background(), f.key, req, nextIdem())
	var ae *dinoapi.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, dinoapi.CodeInvalidRequest, ae.Code)
	assert.Equal(t, "currency", ae.Param)
}

func TestRevokedKey(t *testing.T) {
	f := newFixture(t, acctOpts{})
	ctx := context.Background()
	_, _, err := f.sb.Authenticate(ctx, f.plain)
	require.NoError(t, err)
	_, err = f.sb.RevokeKey(ctx, f.key.ID, "alice")
	require.NoError(t, err)
	_, _, err = f.sb.Authenticate(ctx, f.plain)
	assert.Equal(t, dinoapi.CodeRevokedAPIKey, apiCode(err))
	// A request already past authentication is still refused inside the decision.
	_, err = f.decide(t, 100)
	assert.Equal(t, dinoapi.CodeRevokedAPIKey, apiCode(err))
	_, _, err = f.sb.Authenticate(ctx, "dino_sk_sandbox_unknown")
	assert.Equal(t, dinoapi.CodeInvalidAPIKey, apiCode(err))
	_, err = f.sb.RevokeKey(ctx, f.key.ID, "alice")
	assert.Equal(t, "key_already_revoked", apiCode(err))
}

func TestKeysAreStoredHashed(t *testing.T) {
	f := newFixture(t, acctOpts{})
	assert.Contains(t, f.plain, SandboxKeyPrefix)
	var hash, prefix string
	require.NoError(t, f.sb.store.db.QueryRow(`SELECT hash, prefix FROM spending_keys WHERE id = ?`, f.key.ID).Scan(&hash, &prefix))
	assert.NotContains(t, hash, f.plain[len(SandboxKeyPrefix):])
	assert.Equal(t, hashKey(f.plain), hash)
	assert.Less(t, len(prefix), len(f.plain))
	// Nothing in the database holds the plaintext.
	var n int
	require.NoError(t, f.sb.store.db.QueryRow(`SELECT (SELECT COUNT(*) FROM ledger WHERE detail LIKE '%' || ? || '%') + (SELECT COUNT(*) FROM spending_keys WHERE prefix LIKE '%' || ? || '%')`,
		f.plain, f.plain).Scan(&n))
	assert.Zero(t, n)
}

func TestIdempotentReplay(t *testing.T) {
	f := newFixture(t, acctOpts{})
	ctx := context.Background()
	first, err := f.sb.Decide(ctx, f.key, spendReq(1_000), "same")
	require.NoError(t, err)
	assert.False(t, first.Replayed)
	// Time passes and budget moves; a replay still returns the stored body byte for byte.
	f.clock.Add(time.Hour)
	f.mustDecide(t, 5_000)
	again, err := f.sb.Decide(ctx, f.key, spendReq(1_000), "same")
	require.NoError(t, err)
	assert.True(t, again.Replayed)
	assert.Equal(t, string(first.Body), string(again.Body))
	_, err = f.sb.Decide(ctx, f.key, spendReq(1_001), "same")
	assert.Equal(t, dinoapi.CodeIdempotencyKeyReused, apiCode(err))

	// A stored decline stays declined on replay, even after the budget would allow it.
	f2 := newFixture(t, acctOpts{budget: 1_000, maxTx: 5_000})
	d, err := f2.sb.Decide(ctx, f2.key, spendReq(2_000), "k")
	require.NoError(t, err)
	require.Equal(t, "declined", d.Spend.Status)
	_, err = f2.sb.UpdateAccount(ctx, f2.acct.ID, AccountParams{BudgetCents: ptr[int64](10_000)}, "op")
	require.NoError(t, err)
	d2, err := f2.sb.Decide(ctx, f2.key, spendReq(2_000), "k")
	require.NoError(t, err)
	assert.Equal(t, "declined", d2.Spend.Status)
	assert.True(t, d2.Replayed)

	// Keys are scoped per spending key: another key may use the same Idempotency-Key.
	_, k2, err := f.sb.IssueKey(ctx, f.acct.ID, "op")
	require.NoError(t, err)
	other, err := f.sb.Decide(ctx, k2, spendReq(1_000), "same")
	require.NoError(t, err)
	assert.False(t, other.Replayed)
	assert.NotEqual(t, first.Spend.ID, other.Spend.ID)
	f.invariants(t)
}

func TestPeriodRollOverAtTheUTCBoundary(t *testing.T) {
	for _, tc := range []struct {
		period     string
		last, next time.Time
		start, end string
	}{
		{dinoapi.PeriodDaily, time.Date(2026, 12, 3, 23, 59, 59, 999_999_999, time.UTC), time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), "2026-12-04T00:00:00Z", "2026-12-05T00:00:00Z"},
		// 2026-12-06 is a Sunday; the week starts on Monday the 7th.
		{dinoapi.PeriodWeekly, time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), "2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"},
		{dinoapi.PeriodMonthly, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"},
		{dinoapi.PeriodYearly, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"},
	} {
		t.Run(tc.period, func(t *testing.T) {
			f := newFixture(t, acctOpts{period: tc.period, budget: 10_000, maxTx: 10_000})
			f.clock.Set(tc.last)
			assert.Equal(t, "approved", f.mustDecide(t, 10_000).Status)
			assert.Equal(t, "declined", f.mustDecide(t, 1).Status, "the period's budget is spent")
			f.clock.Set(tc.next)
			s := f.mustDecide(t, 10_000)
			assert.Equal(t, "approved", s.Status, "a new period starts with the whole budget")
			b, err := f.sb.Balance(context.Background(), f.acct.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.start, b.PeriodStart)
			assert.Equal(t, tc.end, b.PeriodEnd)
			assert.Zero(t, b.RemainingBudgetCents)
			f.invariants(t)
		})
	}
	// A time in a non-UTC zone is bucketed by its UTC instant.
	s, e, err := PeriodBounds(dinoapi.PeriodDaily, time.Date(2026, 12, 3, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)))
	require.NoError(t, err)
	assert.Equal(t, "2026-12-04T00:00:00Z", apiTime(s))
	assert.Equal(t, "2026-12-05T00:00:00Z", apiTime(e))
}

func TestPendingReservesNothingAndOperatorActs(t *testing.T) {
	f := newFixture(t, acctOpts{threshold: ptr[int64](10_000), maxTx: 60_000})
	ctx := context.Background()
	p := f.mustDecide(t, 30_000)
	require.Equal(t, "needs_approval", p.Status)
	assert.EqualValues(t, 50_000, p.RemainingBudgetCents, "a pending request reserves nothing")
	got, err := f.sb.Spend(ctx, f.acct.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, "needs_approval", got.Status)

	// Approval beyond the period budget is the operator's call.
	f.mustDecide(t, 9_000)
	f.mustDecide(t, 9_000)
	rec, err := f.sb.Approve(ctx, p.ID, "alice")
	require.NoError(t, err)
	assert.Equal(t, "approved", rec.Status)
	assert.Equal(t, "operator:alice", rec.DecidedBy)
	require.NotNil(t, rec.DecidedAt)
	got, err = f.sb.Spend(ctx, f.acct.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, "approved", got.Status)
	assert.Empty(t, got.ApprovalURL)
	b, err := f.sb.Balance(ctx, f.acct.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 48_000, b.SpentCents)

	// Acting twice changes nothing.
	_, err = f.sb.Approve(ctx, p.ID, "bob")
	assert.Equal(t, CodeAlreadyDecided, apiCode(err))
	_, err = f.sb.Decline(ctx, p.ID, "bob", "no")
	assert.Equal(t, CodeAlreadyDecided, apiCode(err))

	// Decline with a reason.
	p2 := f.mustDecide(t, 10_000)
	rec, err = f.sb.Decline(ctx, p2.ID, "alice", "not this month")
	require.NoError(t, err)
	assert.Equal(t, "declined", rec.Status)
	assert.Equal(t, ReasonOperatorDeclined+": not this month", rec.DecisionReason)

	entries, err := f.sb.Ledger(ctx, LedgerFilter{Kind: KindApprovalApproved})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "operator:alice", entries[0].Actor)
	assert.EqualValues(t, 30_000, entries[0].DebitCents)
	assert.EqualValues(t, 32_000, *entries[0].RemainingBeforeCents)
	assert.EqualValues(t, 2_000, *entries[0].RemainingAfterCents)
	_, err = f.sb.Approve(ctx, "req_missing", "x")
	assert.Equal(t, dinoapi.CodeNotFound, apiCode(err))
	f.invariants(t)
}

func TestApprovalRechecksWalletAndPlan(t *testing.T) {
	f := newFixture(t, acctOpts{threshold: ptr[int64](10_000), wallet: 15_000, maxTx: 20_000})
	ctx := context.Background()
	p := f.mustDecide(t, 12_000)
	f.mustDecide(t, 5_000) // the wallet now holds 10,000
	_, err := f.sb.Approve(ctx, p.ID, "alice")
	assert.Equal(t, dinoapi.CodeFundingSourceBudgetExceeded, apiCode(err))
	got, err := f.sb.Spend(ctx, f.acct.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, "needs_approval", got.Status, "a failed approval leaves the request pending")
	_, err = f.sb.FundWallet(ctx, 5_000, "alice")
	require.NoError(t, err)
	_, err = f.sb.SetPlanVolume(ctx, 10_000, "alice")
	require.NoError(t, err)
	_, err = f.sb.Approve(ctx, p.ID, "alice")
	assert.Equal(t, dinoapi.CodePlanSpendVolumeExceeded, apiCode(err))
	_, err = f.sb.SetPlanVolume(ctx, 100_000, "alice")
	require.NoError(t, err)
	rec, err := f.sb.Approve(ctx, p.ID, "alice")
	require.NoError(t, err)
	assert.Equal(t, "approved", rec.Status)
	team, err := f.sb.Team(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 3_000, team.WalletBalanceCents)
	f.invariants(t)
}

func TestApprovalExpiry(t *testing.T) {
	f := newFixture(t, acctOpts{threshold: ptr[int64](10_000), ttl: time.Hour})
	ctx := context.Background()
	p := f.mustDecide(t, 15_000)
	f.clock.Add(59 * time.Minute)
	pend, err := f.sb.Pending(ctx)
	require.NoError(t, err)
	require.Len(t, pend, 1)
	f.clock.Add(time.Minute)
	pend, err = f.sb.Pending(ctx)
	require.NoError(t, err)
	assert.Empty(t, pend)
	got, err := f.sb.Spend(ctx, f.acct.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, "declined", got.Status)
	assert.Equal(t, ReasonExpired, got.DecisionReason)
	_, err = f.sb.Approve(ctx, p.ID, "alice")
	assert.Equal(t, CodeExpired, apiCode(err))
	entries, err := f.sb.Ledger(ctx, LedgerFilter{Kind: KindApprovalExpired})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "system", entries[0].Actor)
	f.invariants(t)
}

func TestAnotherAccountsSpendIsNotFound(t *testing.T) {
	f := newFixture(t, acctOpts{})
	ctx := context.Background()
	s := f.mustDecide(t, 100)
	other, err := f.sb.CreateAccount(ctx, AccountParams{Name: ptr("other"), BudgetCents: ptr[int64](100), MaxTransactionCents: ptr[int64](100)}, "op")
	require.NoError(t, err)
	_, err = f.sb.Spend(ctx, other.ID, s.ID)
	assert.Equal(t, dinoapi.CodeNotFound, apiCode(err))
	_, err = f.sb.Spend(ctx, f.acct.ID, "req_doesnotexist")
	assert.Equal(t, dinoapi.CodeNotFound, apiCode(err))
}

func TestLedgerIsAppendOnly(t *testing.T) {
	f := newFixture(t, acctOpts{threshold: ptr[int64](10_000)})
	f.mustDecide(t, 100)
	_, err := f.sb.store.db.Exec(`UPDATE ledger SET debit_cents = 0`)
	assert.ErrorContains(t, err, "append-only")
	_, err = f.sb.store.db.Exec(`DELETE FROM ledger`)
	assert.ErrorContains(t, err, "append-only")
	_, err = f.sb.store.db.Exec(`UPDATE spend_requests SET status = 'declined'`)
	assert.ErrorContains(t, err, "only moves from needs_approval")
	p := f.mustDecide(t, 15_000)
	_, err = f.sb.store.db.Exec(`UPDATE spend_requests SET amount_cents = 1 WHERE id = ?`, p.ID)
	assert.ErrorContains(t, err, "only moves from needs_approval")
	_, err = f.sb.store.db.Exec(`DELETE FROM spend_requests`)
	assert.ErrorContains(t, err, "never deleted")
}

func TestAccountValidation(t *testing.T) {
	f := newFixture(t, acctOpts{})
	ctx := context.Background()
	for _, tc := range []struct {
		p     AccountParams
		param string
	}{
		{AccountParams{BudgetCents: ptr[int64](1), MaxTransactionCents: ptr[int64](1)}, "name"},
		{AccountParams{Name: ptr("a"), MaxTransactionCents: ptr[int64](1)}, "budget_cents"},
		{AccountParams{Name: ptr("a"), BudgetCents: ptr[int64](1)}, "max_transaction_cents"},
		{AccountParams{Name: ptr("a"), BudgetCents: ptr[int64](-1), MaxTransactionCents: ptr[int64](1)}, "budget_cents"},
		{AccountParams{Name: ptr("a"), BudgetCents: ptr[int64](1), MaxTransactionCents: ptr[int64](0)}, "max_transaction_cents"},
		{AccountParams{Name: ptr("a"), BudgetCents: ptr[int64](1), MaxTransactionCents: ptr[int64](1), BudgetPeriod: ptr("fortnightly")}, "budget_period"},
		{AccountParams{Name: ptr("a"), BudgetCents: ptr[int64](1), MaxTransactionCents: ptr[int64](1), ApprovalThresholdCents: ptr[int64](0)}, "approval_threshold_cents"},
		{AccountParams{Name: ptr("a"), BudgetCents: ptr[int64](1), MaxTransactionCents: ptr[int64](1), Currency: ptr("eur")}, "currency"},
	} {
		_, err := f.sb.CreateAccount(ctx, tc.p, "op")
		var ae *dinoapi.APIError
		require.ErrorAs(t, err, &ae, tc.param)
		assert.Equal(t, tc.param, ae.Param)
	}
	_, err := f.sb.CreateAccount(ctx, AccountParams{Name: ptr("agent"), BudgetCents: ptr[int64](1), MaxTransactionCents: ptr[int64](1)}, "op")
	assert.Equal(t, "account_name_taken", apiCode(err))
	// Nothing half-written: the failed creations left no account and no ledger entry.
	accts, err := f.sb.Accounts(ctx)
	require.NoError(t, err)
	assert.Len(t, accts, 1)
	entries, err := f.sb.Ledger(ctx, LedgerFilter{Kind: KindAccountCreated})
	require.NoError(t, err)
	assert.Len(t, entries, 1)

	// Updating clears or sets the threshold and is recorded.
	a, err := f.sb.UpdateAccount(ctx, "agent", AccountParams{ApprovalThresholdCents: ptr[int64](700)}, "op")
	require.NoError(t, err)
	require.NotNil(t, a.ApprovalThresholdCents)
	a, err = f.sb.UpdateAccount(ctx, "agent", AccountParams{ClearApprovalThreshold: true}, "op")
	require.NoError(t, err)
	assert.Nil(t, a.ApprovalThresholdCents)
}

func TestMigrationsAreIdempotentAndVersioned(t *testing.T) {
	path := t.TempDir() + "/m.db"
	ctx := context.Background()
	st, err := OpenStore(ctx, path)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	st, err = OpenStore(ctx, path)
	require.NoError(t, err)
	var v int
	require.NoError(t, st.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v))
	assert.Equal(t, len(migrations), v)
	var mode string
	require.NoError(t, st.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)
	_, err = st.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'x')`)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	_, err = OpenStore(ctx, path)
	assert.ErrorContains(t, err, "newer than this binary")

	mem, err := OpenStore(ctx, MemoryDB)
	require.NoError(t, err)
	defer mem.Close()
	sb := New(mem, Config{})
	require.NoError(t, sb.SeedDemo(ctx))
	require.NoError(t, sb.SeedDemo(ctx), "seeding twice changes nothing")
	accts, err := sb.Accounts(ctx)
	require.NoError(t, err)
	assert.Len(t, accts, 1)
	team, err := sb.Team(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, DemoWalletCents, team.WalletBalanceCents)
}

// TestInvariantCheckCatchesViolations: the audit is not vacuous — tampering it should see is seen.
func TestInvariantCheckCatchesViolations(t *testing.T) {
	f := newFixture(t, acctOpts{budget: 1_000, maxTx: 1_000})
	ctx := context.Background()
	s := f.mustDecide(t, 600)
	f.invariants(t)
	db := f.sb.store.db
	now := formatTime(f.clock.Now())
	// A second debit for the same request, which also pushes policy spend past the budget.
	_, err := db.Exec(`INSERT INTO ledger (at, team_id, account_id, spend_request_id, kind, actor, status, amount_cents, debit_cents) VALUES (?, ?, ?, ?, 'spend_approved', 'x', 'approved', 600, 600)`,
		now, DefaultTeamID, f.acct.ID, s.ID)
	require.NoError(t, err)
	// A request with no decision entry and no idempotency record.
	_, err = db.Exec(`INSERT INTO spend_requests (id, account_id, key_id, amount_cents, currency, merchant_name, reason, status, decision_reason, created_at) VALUES ('req_orphan', ?, ?, 5, 'usd', 'm', 'r', 'declined', 'x', ?)`,
		f.acct.ID, f.key.ID, now)
	require.NoError(t, err)
	problems := strings.Join(f.sb.CheckInvariants(ctx), "\n")
	for _, want := range []string{
		"spend request without exactly one decision entry: id=" + s.ID,
		"spend request without exactly one decision entry: id=req_orphan",
		"debits differ from approved amounts: id=" + s.ID,
		"spend request without exactly one idempotency record: id=req_orphan",
		"policy approvals exceed the budget",
	} {
		assert.Contains(t, problems, want)
	}
}
