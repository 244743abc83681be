package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// chromiumPath finds the headless browser. CI installs Debian's chromium, so there a missing
// browser fails the test instead of skipping it.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium found; .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium found (apt-get install chromium); CI runs this test")
	return ""
}

func newBrowser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx)) // starts the browser; its context must carry no timeout
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	return ctx
}

func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return s
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// TestDashboardInBrowser drives the dashboard in headless Chromium with JavaScript turned off:
// sign in, open approval_urls from real POST /v1/spend calls, approve one and decline another,
// see a cross-site form post refused, and find all of it on the ledger page.
func TestDashboardInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	db := filepath.Join(t.TempDir(), "dash.db")
	const token = "browser_admin_token_0123456789abc"
	run, err := Start(context.Background(), Options{DBPath: db, Addr: "127.0.0.1:0", AdminToken: token, SeedDemo: true, Logger: zerolog.Nop()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = run.Shutdown(context.Background()) })
	client, err := dinoapi.NewClient(dinoapi.Config{APIKey: DemoKey, BaseURL: run.URL})
	require.NoError(t, err)
	bg := context.Background()
	first, err := client.CreateSpend(bg, dinoapi.SpendRequest{AmountCents: 60_000, Currency: "usd", MerchantName: "OpenAI", Reason: "Fine-tuning run for the support bot"}, "b1")
	require.NoError(t, err)
	require.Equal(t, dinoapi.StatusNeedsApproval, first.Status)
	_, err = client.CreateSpend(bg, dinoapi.SpendRequest{AmountCents: 45_000, Currency: "usd", MerchantName: "AWS", Reason: "Warm-up"}, "b0")
	require.NoError(t, err) // approved: the period budget is now 45,000 spent, so approving 60,000 would exceed it
	second, err := client.CreateSpend(bg, dinoapi.SpendRequest{AmountCents: 52_000, Currency: "usd", MerchantName: "Anthropic", Reason: "Batch evaluation"}, "b2")
	require.NoError(t, err)
	require.Equal(t, dinoapi.StatusNeedsApproval, second.Status)

	// Approve and decline must work without JavaScript.
	_, err = chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)

	// Signing in with a spending key fails; with the admin token it lands on the approval page.
	do(t, ctx, chromedp.Navigate(first.ApprovalURL), chromedp.WaitVisible(chromedp.CSS("#token")))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), DemoKey), chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#error")))
	assert.Contains(t, text(ctx, t, "#error"), "not the admin token")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#approve")))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, first.ApprovalURL, loc, "sign-in returns to the approval_url")
	assert.Equal(t, "600.00 USD", text(ctx, t, "#amount"))
	assert.Equal(t, "OpenAI", text(ctx, t, "#merchant"))
	assert.Equal(t, "Fine-tuning run for the support bot", text(ctx, t, "#reason"))
	assert.Contains(t, text(ctx, t, "#overbudget"), "exceeds this period's budget by 50.00 USD")
	assert.Equal(t, "550.00 USD", text(ctx, t, "#remaining"))

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	artifacts := filepath.Join("..", "..", "testdata", "artifacts")
	require.NoError(t, os.MkdirAll(artifacts, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "approval-page.png"), shot, 0o644))

	do(t, ctx, chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Contains(t, text(ctx, t, "#flash"), "Approved")
	assert.Equal(t, "approved", text(ctx, t, "#status"))
	assert.Contains(t, text(ctx, t, "#final"), "nothing left to decide")
	got, err := client.GetSpend(bg, first.ID)
	require.NoError(t, err)
	assert.Equal(t, dinoapi.StatusApproved, got.Status)

	// The queue lists what is still pending, newest first.
	do(t, ctx, chromedp.Navigate(run.URL+"/agents/approvals"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	q := text(ctx, t, "#queue")
	assert.Contains(t, q, second.ID)
	assert.NotContains(t, q, first.ID)

	// Decline the second with a reason.
	do(t, ctx, chromedp.Navigate(second.ApprovalURL), chromedp.WaitVisible(chromedp.CSS("#decline")),
		chromedp.SendKeys(chromedp.CSS("#decline-reason"), "Use the batch discount next week"),
		chromedp.Click(chromedp.CSS("#decline")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Equal(t, "declined", text(ctx, t, "#status"))
	assert.Contains(t, text(ctx, t, "#decision"), "Use the batch discount next week")
	got, err = client.GetSpend(bg, second.ID)
	require.NoError(t, err)
	assert.Equal(t, dinoapi.StatusDeclined, got.Status)

	// Acting twice: a replayed form post with the right session and CSRF token changes nothing.
	do(t, ctx, chromedp.Navigate(run.URL+"/accounts"), chromedp.WaitVisible(chromedp.CSS(".account")))
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`input[name=csrf]`), "value"))
	require.NoError(t, err)
	csrfToken := attr.Value
	cres, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	require.NoError(t, err)
	cookies := cres.Cookies
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(run.URL)
	for _, c := range cookies {
		if c.Name == sessionCookie {
			assert.True(t, c.HTTPOnly, "the session cookie is HttpOnly")
			assert.Equal(t, network.CookieSameSiteStrict, c.SameSite)
			jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
		}
	}
	operator := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := operator.PostForm(run.URL+"/agents/approvals/approve", url.Values{"csrf": {csrfToken}, "spendRequestId": {second.ID}})
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusConflict, res.StatusCode)
	assert.Contains(t, string(body), "already declined; nothing changed")
	// Without the CSRF token the same post is refused.
	res, err = operator.PostForm(run.URL+"/agents/approvals/decline", url.Values{"spendRequestId": {first.ID}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)

	// A cross-site page that auto-submits a form to the sandbox, in the signed-in browser.
	third, err := client.CreateSpend(bg, dinoapi.SpendRequest{AmountCents: 50_000, Currency: "usd", MerchantName: "Evil Corp", Reason: "please"}, "b3")
	require.NoError(t, err)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><form id="f" method="post" action="%s/agents/approvals/approve"><input name="spendRequestId" value="%s"><input name="csrf" value="guess"></form>
			<script>document.getElementById('f').submit()</script></body></html>`, run.URL, third.ID)
	}))
	defer evil.Close()
	evilCtx, cancelEvil := chromedp.NewContext(ctx) // a new tab, with JavaScript on
	defer cancelEvil()
	do(t, evilCtx, chromedp.Navigate(evil.URL), chromedp.Sleep(time.Second))
	evilBody, err := chromedp.Run(evilCtx, chromedp.Text(chromedp.CSS("body")))
	require.NoError(t, err)
	assert.Contains(t, evilBody, "cross-origin request refused")
	got, err = client.GetSpend(bg, third.ID)
	require.NoError(t, err)
	assert.Equal(t, dinoapi.StatusNeedsApproval, got.Status, "the cross-site post changed nothing")

	// The ledger lists all of it, and the CSV export carries the same rows.
	do(t, ctx, chromedp.Navigate(run.URL+"/ledger"), chromedp.WaitVisible(chromedp.CSS("#ledger")))
	ledger := text(ctx, t, "#ledger")
	for _, want := range []string{first.ID, second.ID, third.ID, "approval_approved", "approval_declined", "spend_needs_approval", "spend_approved", "wallet_funded", "admin (dashboard)"} {
		assert.Contains(t, ledger, want)
	}
	do(t, ctx, chromedp.Navigate(run.URL+"/ledger?status=declined"), chromedp.WaitVisible(chromedp.CSS("#ledger")))
	declinedOnly := text(ctx, t, "#ledger")
	assert.Contains(t, declinedOnly, second.ID)
	assert.NotContains(t, declinedOnly, "approval_approved")
	res, err = operator.Get(run.URL + "/ledger.csv?account=" + url.QueryEscape(got.ID[:0]))
	require.NoError(t, err)
	csvBody, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(string(csvBody), "seq,at,kind,status,account_id"))
	assert.Contains(t, string(csvBody), second.ID)
	assert.Contains(t, string(csvBody), "approval_declined")

	// Accounts: budget used at a glance, keys by prefix only, revoke from the page.
	plain, k, err := run.Sandbox.IssueKey(bg, DemoAccountName, "test")
	require.NoError(t, err)
	do(t, ctx, chromedp.Navigate(run.URL+"/accounts"), chromedp.WaitVisible(chromedp.CSS(".account")))
	page := text(ctx, t, "main")
	assert.Contains(t, page, "demo-agent")
	assert.Contains(t, page, "1,050.00 USD used of 1,000.00 USD")
	assert.Contains(t, page, k.Prefix)
	assert.NotContains(t, page, plain)
	bar, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(".bar span"), "class"))
	require.NoError(t, err)
	assert.Equal(t, "over", bar.Value)
	do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[value=%q] ~ button`, k.ID))), chromedp.WaitVisible(chromedp.CSS("#flash")))
	_, _, err = run.Sandbox.Authenticate(bg, plain)
	assert.Equal(t, dinoapi.CodeRevokedAPIKey, apiCode(err))
	assert.Empty(t, run.Sandbox.CheckInvariants(bg))
}
