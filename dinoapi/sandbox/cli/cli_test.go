package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/dinoapi/sandbox"
)

type cliRun struct {
	code           int
	stdout, stderr string
}

func runCLI(db string, args ...string) cliRun {
	var out, errb bytes.Buffer
	code := Main(append(args, "--db", db), &out, &errb, func(k string) string {
		if k == "USER" {
			return "tester"
		}
		return ""
	})
	return cliRun{code, out.String(), errb.String()}
}

func TestCLIAdministersTheSandbox(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	r := runCLI(db, "account", "list")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no sandbox database")

	r = runCLI(db, "demo")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, sandbox.DemoKey)

	r = runCLI(db, "account", "create", "--name", "ci-bot", "--budget-cents", "10000", "--max-transaction-cents", "5000", "--period", "weekly", "--approval-threshold-cents", "3000")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "100.00 USD per weekly period")
	r = runCLI(db, "account", "update", "ci-bot", "--budget-cents", "20000")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "200.00 USD per weekly period")
	r = runCLI(db, "account", "list")
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "ci-bot")
	assert.Contains(t, r.stdout, "demo-agent")

	r = runCLI(db, "key", "issue", "ci-bot")
	require.Equal(t, 0, r.code, r.stderr)
	key := strings.TrimSpace(r.stdout)
	assert.True(t, strings.HasPrefix(key, sandbox.SandboxKeyPrefix))
	assert.Contains(t, r.stderr, "only time the key is shown")
	r = runCLI(db, "key", "list", "ci-bot")
	assert.NotContains(t, r.stdout, key, "a key is never shown again")
	assert.Contains(t, r.stdout, "active")

	// Make a pending request through the engine, then act on it from the CLI.
	st, err := sandbox.OpenStore(context.Background(), db)
	require.NoError(t, err)
	sb := sandbox.New(st, sandbox.Config{})
	k, acct, err := sb.Authenticate(context.Background(), key)
	require.NoError(t, err)
	require.Equal(t, "ci-bot", acct.Name)
	d1, err := sb.Decide(context.Background(), k, dinoapi.SpendRequest{AmountCents: 4000, Currency: "usd", MerchantName: "AWS", Reason: "r"}, "i1")
	require.NoError(t, err)
	d2, err := sb.Decide(context.Background(), k, dinoapi.SpendRequest{AmountCents: 4500, Currency: "usd", MerchantName: "GCP", Reason: "r"}, "i2")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, "needs_approval", d1.Spend.Status)

	r = runCLI(db, "approvals", "list")
	assert.Contains(t, r.stdout, d1.Spend.ID)
	assert.Contains(t, r.stdout, d2.Spend.ID)
	r = runCLI(db, "approve", d1.Spend.ID)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "approved")
	r = runCLI(db, "approve", d1.Spend.ID)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "already approved")
	r = runCLI(db, "decline", d2.Spend.ID, "--reason", "use the committed-use discount")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "use the committed-use discount")
	r = runCLI(db, "decline")
	assert.Equal(t, 2, r.code)

	r = runCLI(db, "ledger", "--json", "--account", "ci-bot")
	require.Equal(t, 0, r.code, r.stderr)
	var entries []sandbox.LedgerEntry
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &entries))
	kinds := map[string]string{}
	for _, e := range entries {
		kinds[e.Kind] = e.Actor
	}
	assert.Equal(t, "operator:tester", kinds[sandbox.KindApprovalApproved])
	assert.Equal(t, "operator:tester", kinds[sandbox.KindApprovalDeclined])
	assert.Contains(t, kinds, sandbox.KindAccountUpdated)

	r = runCLI(db, "wallet", "fund", "--amount-cents", "2500")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "25.00 USD")
	r = runCLI(db, "team")
	assert.Contains(t, r.stdout, "wallet:")
	r = runCLI(db, "check")
	assert.Equal(t, 0, r.code, r.stdout)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"account"}, 2, "needs a subcommand"},
		{[]string{"account", "create", "--name", "x", "--budget-cents", "ten", "--max-transaction-cents", "1"}, 2, "--budget-cents"},
		{[]string{"account", "create", "--name", "x", "--budget-cents", "10"}, 1, "max_transaction_cents is required"},
		{[]string{"account", "show", "nobody"}, 1, "no spend account"},
		{[]string{"wallet", "fund"}, 2, "--amount-cents"},
		{[]string{"key", "revoke", "key_missing"}, 1, "no such key"},
		{[]string{"ledger", "--limit", "0"}, 2, "--limit"},
		{[]string{"approve", "req_missing"}, 1, "No such spend request"},
	} {
		r := runCLI(db, tc.args...)
		assert.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, tc.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one line on stderr: %q", r.stderr)
	}
}
