// Package cli is the dino-sandbox command line: serve, and the admin subcommands that work on
// the sandbox database directly (SQLite's locking makes that safe while a server runs).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/dinoapi/sandbox"
)

const usage = `dino-sandbox: a local Dino /v1 agent-spend API with governance, a ledger and a dashboard.

Usage:
  dino-sandbox serve [--addr 127.0.0.1:8787] [--db PATH] [--admin-token T] [--public-url URL]
                     [--rate-limit 25] [--rate-burst 50] [--approval-ttl 0] [--no-demo]
  dino-sandbox demo                                   seed the demo team, account and key
  dino-sandbox team                                   show the team wallet and plan
  dino-sandbox wallet fund --amount-cents N           add money to the team wallet
  dino-sandbox plan set --volume-cents N              set the plan's monthly spend volume
  dino-sandbox account create --name N --budget-cents N --max-transaction-cents N
                              [--period daily|weekly|monthly|yearly] [--approval-threshold-cents N]
  dino-sandbox account list
  dino-sandbox account show ACCOUNT
  dino-sandbox account update ACCOUNT [--name N] [--budget-cents N] [--period P]
                              [--max-transaction-cents N] [--approval-threshold-cents N | --no-approval-threshold]
  dino-sandbox key issue ACCOUNT                      prints the plaintext key once
  dino-sandbox key revoke KEY_ID
  dino-sandbox key list [ACCOUNT]
  dino-sandbox approvals list
  dino-sandbox approve SPEND_ID
  dino-sandbox decline SPEND_ID [--reason TEXT]
  dino-sandbox ledger [--json] [--account A] [--status S] [--limit N]
  dino-sandbox check                                  audit the ledger invariants

Every command takes --db PATH (env DINO_SANDBOX_DB; default ` + "%s" + `)
and --operator NAME (env DINO_OPERATOR, else $USER) for the ledger's record of who acted.
ACCOUNT is an account id (acct_…) or name.
`

type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// exitError carries an exit status; its message goes to stderr as one line.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

// Main runs the command line and returns the exit status: 0 success, 1 a refused operation
// (not found, already decided), 2 a usage error.
func Main(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	err := e.run(args)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "dino-sandbox: "+ee.msg)
		}
		return ee.code
	}
	var ae *dinoapi.APIError
	if errors.As(err, &ae) {
		msg := ae.Message
		if ae.Param != "" {
			msg += " (" + flagName(ae.Param) + ")"
		}
		fmt.Fprintln(stderr, "dino-sandbox: "+msg)
		return 1
	}
	fmt.Fprintln(stderr, "dino-sandbox: "+err.Error())
	return 1
}

// flagName maps an API field to the CLI flag that sets it.
func flagName(param string) string {
	switch param {
	case "budget_period":
		return "--period"
	case "plan_monthly_volume_cents":
		return "--volume-cents"
	}
	return "--" + strings.ReplaceAll(param, "_", "-")
}

func (e *env) run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stdout, usage, sandbox.DefaultDBPath())
		if len(args) == 0 {
			return fail(2, "")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return e.serve(rest)
	case "demo", "team", "check":
		return e.simple(cmd, rest)
	case "wallet":
		return e.sub(cmd, rest, map[string]func([]string) error{"fund": e.walletFund})
	case "plan":
		return e.sub(cmd, rest, map[string]func([]string) error{"set": e.planSet})
	case "account":
		return e.sub(cmd, rest, map[string]func([]string) error{"create": e.accountCreate, "list": e.accountList, "show": e.accountShow, "update": e.accountUpdate})
	case "key":
		return e.sub(cmd, rest, map[string]func([]string) error{"issue": e.keyIssue, "revoke": e.keyRevoke, "list": e.keyList})
	case "approvals":
		return e.sub(cmd, rest, map[string]func([]string) error{"list": e.approvalsList})
	case "approve":
		return e.decide(rest, true)
	case "decline":
		return e.decide(rest, false)
	case "ledger":
		return e.ledger(rest)
	case "version", "--version":
		fmt.Fprintf(e.stdout, "dino-sandbox %s\n", dinoapi.Version)
		return nil
	}
	return fail(2, "unknown command %q; run dino-sandbox --help", cmd)
}

func (e *env) sub(cmd string, args []string, subs map[string]func([]string) error) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		return fail(2, "%s needs a subcommand: %s", cmd, strings.Join(names, ", "))
	}
	fn, ok := subs[args[0]]
	if !ok {
		return fail(2, "unknown command %q %q; run dino-sandbox --help", cmd, args[0])
	}
	return fn(args[1:])
}

// common holds the flags every admin command takes.
type common struct {
	db, operator string
}

func (e *env) flags(name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("dino-sandbox "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := e.getenv("DINO_SANDBOX_DB")
	if def == "" {
		def = sandbox.DefaultDBPath()
	}
	fs.StringVar(&c.db, "db", def, "the sandbox database file")
	op := e.getenv("DINO_OPERATOR")
	if op == "" {
		op = e.getenv("USER")
	}
	fs.StringVar(&c.operator, "operator", op, "who is acting, for the ledger")
	return fs
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fail(2, "%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (e *env) open(c *common) (*sandbox.Sandbox, func(), error) {
	if c.db != sandbox.MemoryDB {
		if _, err := os.Stat(c.db); err != nil {
			return nil, nil, fail(1, "no sandbox database at %s: run dino-sandbox serve (or dino-sandbox demo) first, or pass --db", c.db)
		}
	}
	st, err := sandbox.OpenStore(context.Background(), c.db)
	if err != nil {
		return nil, nil, err
	}
	return sandbox.New(st, sandbox.Config{}), func() { st.Close() }, nil
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (e *env) serve(args []string) error {
	var c common
	fs := e.flags("serve", &c)
	addr := fs.String("addr", orDefault(e.getenv("DINO_SANDBOX_ADDR"), sandbox.DefaultAddr), "listen address (env DINO_SANDBOX_ADDR)")
	token := fs.String("admin-token", e.getenv("DINO_SANDBOX_ADMIN_TOKEN"), "admin token (env DINO_SANDBOX_ADMIN_TOKEN); random when empty")
	public := fs.String("public-url", e.getenv("DINO_SANDBOX_PUBLIC_URL"), "origin for approval_url links (default http://ADDR)")
	rps := fs.Float64("rate-limit", sandbox.DefaultRatePerSecond, "requests per second per spending key; 0 turns rate limiting off")
	burst := fs.Int("rate-burst", sandbox.DefaultRateBurst, "burst per spending key")
	ttl := fs.Duration("approval-ttl", 0, "decline pending requests after this long; 0 means never")
	noDemo := fs.Bool("no-demo", false, "do not seed the demo team, account and key")
	logLevel := fs.String("log-level", orDefault(e.getenv("DINO_LOG_LEVEL"), "info"), "debug, info, warn or error")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	lvl, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return fail(2, "--log-level %q must be debug, info, warn or error", *logLevel)
	}
	if *token != "" && len(*token) < 16 {
		return fail(2, "--admin-token must be at least 16 characters")
	}
	if *rps < 0 || *burst < 0 || *ttl < 0 {
		return fail(2, "--rate-limit, --rate-burst and --approval-ttl must not be negative")
	}
	logger := zerolog.New(e.stderr).Level(lvl).With().Timestamp().Str("service", "dino-sandbox").Logger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	run, err := sandbox.Start(ctx, sandbox.Options{DBPath: c.db, Addr: *addr, PublicURL: *public, AdminToken: *token, RatePerSecond: *rps, RateBurst: *burst,
		ApprovalTTL: *ttl, Logger: logger, SeedDemo: !*noDemo})
	if err != nil {
		return err
	}
	logger.Info().Str("url", run.URL).Str("db", c.db).Msg("dino-sandbox serving /v1, the admin API and the dashboard")
	fmt.Fprintf(e.stderr, "dino-sandbox: serving %s (database %s)\n  dashboard:   %s/agents/approvals\n  admin API:   %s/admin/v1/  (Authorization: Bearer <admin token>)\n", run.URL, c.db, run.URL, run.URL)
	if *token == "" {
		fmt.Fprintf(e.stderr, "  admin token: %s  (random for this run; set DINO_SANDBOX_ADMIN_TOKEN to keep one)\n", run.AdminToken)
	}
	if !*noDemo {
		fmt.Fprintf(e.stderr, "  demo key:    %s  (account %s)\n", sandbox.DemoKey, sandbox.DemoAccountName)
	}
	<-ctx.Done()
	logger.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return run.Shutdown(sctx)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (e *env) simple(cmd string, args []string) error {
	var c common
	fs := e.flags(cmd, &c)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if cmd == "demo" {
		st, err := sandbox.OpenStore(context.Background(), c.db)
		if err != nil {
			return err
		}
		defer st.Close()
		sb := sandbox.New(st, sandbox.Config{})
		if err := sb.SeedDemo(context.Background()); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "demo data ready in %s\naccount: %s\nkey:     %s\n", c.db, sandbox.DemoAccountName, sandbox.DemoKey)
		return nil
	}
	sb, closeFn, err := e.open(&c)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx := context.Background()
	if cmd == "check" {
		problems := sb.CheckInvariants(ctx)
		for _, p := range problems {
			fmt.Fprintln(e.stdout, p)
		}
		if len(problems) > 0 {
			return fail(1, "%d invariant violation(s)", len(problems))
		}
		fmt.Fprintln(e.stdout, "ledger invariants hold")
		return nil
	}
	t, err := sb.Team(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "team:          %s (%s)\nwallet:        %s\nplan volume:   %s used of %s this month\n", t.Name, t.ID,
		dinoapi.FormatAmount(t.WalletBalanceCents, t.Currency), dinoapi.FormatAmount(t.PlanUsedCents, t.Currency), dinoapi.FormatAmount(t.PlanMonthlyVolumeCents, t.Currency))
	return nil
}

// command parses name's flags (define adds the command's own and may return a check of their
// values), requires between minPos and maxPos positional arguments, opens the database and
// runs fn. Usage errors are found before the database is opened.
func (e *env) command(name string, args []string, minPos, maxPos int, usage string, define func(*flag.FlagSet) func() error, fn func(sb *sandbox.Sandbox, c common, pos []string) error) error {
	var c common
	fs := e.flags(name, &c)
	var check func() error
	if define != nil {
		check = define(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < minPos || len(pos) > maxPos {
		if usage == "" {
			return fail(2, "%s takes no arguments, got %q", name, pos)
		}
		return fail(2, "%s needs %s", name, usage)
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	sb, closeFn, err := e.open(&c)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(sb, c, pos)
}

func (e *env) walletFund(args []string) error {
	var amount *int64
	return e.command("wallet fund", args, 0, 0, "", func(fs *flag.FlagSet) func() error {
		amount = fs.Int64("amount-cents", 0, "amount to add, in cents")
		return func() error {
			if *amount < 1 {
				return fail(2, "wallet fund needs --amount-cents N with N at least 1 (cents: 100000 is $1,000.00)")
			}
			return nil
		}
	}, func(sb *sandbox.Sandbox, c common, _ []string) error {
		t, err := sb.FundWallet(context.Background(), *amount, c.operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wallet funded with %s; balance %s\n", dinoapi.FormatAmount(*amount, t.Currency), dinoapi.FormatAmount(t.WalletBalanceCents, t.Currency))
		return nil
	})
}

func (e *env) planSet(args []string) error {
	var vol *int64
	return e.command("plan set", args, 0, 0, "", func(fs *flag.FlagSet) func() error {
		vol = fs.Int64("volume-cents", -1, "monthly spend volume, in cents")
		return func() error {
			if *vol < 0 {
				return fail(2, "plan set needs --volume-cents N with N at least 0")
			}
			return nil
		}
	}, func(sb *sandbox.Sandbox, c common, _ []string) error {
		t, err := sb.SetPlanVolume(context.Background(), *vol, c.operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "plan monthly volume set to %s\n", dinoapi.FormatAmount(t.PlanMonthlyVolumeCents, t.Currency))
		return nil
	})
}

// accountFlags registers the account settings; only flags actually given are applied.
func accountFlags(fs *flag.FlagSet) func() (sandbox.AccountParams, error) {
	name := fs.String("name", "", "account name")
	budget := fs.String("budget-cents", "", "budget per period, in cents")
	period := fs.String("period", "", "budget period: daily, weekly, monthly or yearly")
	maxTx := fs.String("max-transaction-cents", "", "largest single spend, in cents")
	thr := fs.String("approval-threshold-cents", "", "amount at or above which an operator must approve, in cents")
	noThr := fs.Bool("no-approval-threshold", false, "remove the approval threshold")
	return func() (sandbox.AccountParams, error) {
		var p sandbox.AccountParams
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		num := func(flagName, v string) (*int64, error) {
			if !set[flagName] {
				return nil, nil
			}
			n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
			if err != nil {
				return nil, fail(2, "--%s %q must be a whole number of cents, such as 50000 for $500.00", flagName, v)
			}
			return &n, nil
		}
		var err error
		if set["name"] {
			p.Name = name
		}
		if set["period"] {
			p.BudgetPeriod = period
		}
		if p.BudgetCents, err = num("budget-cents", *budget); err != nil {
			return p, err
		}
		if p.MaxTransactionCents, err = num("max-transaction-cents", *maxTx); err != nil {
			return p, err
		}
		if p.ApprovalThresholdCents, err = num("approval-threshold-cents", *thr); err != nil {
			return p, err
		}
		if *noThr && p.ApprovalThresholdCents != nil {
			return p, fail(2, "--approval-threshold-cents and --no-approval-threshold contradict each other")
		}
		p.ClearApprovalThreshold = *noThr
		return p, nil
	}
}

// accountCommand is account create or update: the settings flags, then fn with the parameters.
func (e *env) accountCommand(name string, args []string, minPos, maxPos int, usage string, fn func(sb *sandbox.Sandbox, c common, pos []string, p sandbox.AccountParams) error) error {
	var get func() (sandbox.AccountParams, error)
	var p sandbox.AccountParams
	return e.command(name, args, minPos, maxPos, usage, func(fs *flag.FlagSet) func() error {
		get = accountFlags(fs)
		return func() (err error) { p, err = get(); return err }
	}, func(sb *sandbox.Sandbox, c common, pos []string) error { return fn(sb, c, pos, p) })
}

func (e *env) accountCreate(args []string) error {
	return e.accountCommand("account create", args, 0, 0, "", func(sb *sandbox.Sandbox, c common, _ []string, p sandbox.AccountParams) error {
		a, err := sb.CreateAccount(context.Background(), p, c.operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created account %s (%s)\n", a.Name, a.ID)
		return e.showAccount(sb, a.ID)
	})
}

func (e *env) accountUpdate(args []string) error {
	return e.accountCommand("account update", args, 1, 1, "one ACCOUNT (id or name)", func(sb *sandbox.Sandbox, c common, pos []string, p sandbox.AccountParams) error {
		a, err := sb.UpdateAccount(context.Background(), pos[0], p, c.operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "updated account %s (%s)\n", a.Name, a.ID)
		return e.showAccount(sb, a.ID)
	})
}

func jsonFlag(asJSON **bool) func(*flag.FlagSet) func() error {
	return func(fs *flag.FlagSet) func() error {
		*asJSON = fs.Bool("json", false, "print JSON")
		return nil
	}
}

func (e *env) accountList(args []string) error {
	var asJSON *bool
	return e.command("account list", args, 0, 0, "", jsonFlag(&asJSON), func(sb *sandbox.Sandbox, _ common, _ []string) error {
		accts, err := sb.Accounts(context.Background())
		if err != nil {
			return err
		}
		if *asJSON {
			return e.printJSON(accts)
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPERIOD\tBUDGET\tSPENT\tREMAINING\tMAX TX\tAPPROVAL AT\tPENDING")
		for _, a := range accts {
			thr := "-"
			if a.ApprovalThresholdCents != nil {
				thr = dinoapi.FormatAmount(*a.ApprovalThresholdCents, a.Currency)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.ID, a.Name, a.BudgetPeriod, dinoapi.FormatAmount(a.BudgetCents, a.Currency),
				dinoapi.FormatAmount(a.SpentCents, a.Currency), dinoapi.FormatAmount(a.RemainingBudgetCents, a.Currency),
				dinoapi.FormatAmount(a.MaxTransactionCents, a.Currency), thr, a.PendingApprovalCount)
		}
		return tw.Flush()
	})
}

func (e *env) accountShow(args []string) error {
	return e.command("account show", args, 1, 1, "one ACCOUNT (id or name)", nil, func(sb *sandbox.Sandbox, _ common, pos []string) error {
		return e.showAccount(sb, pos[0])
	})
}

func (e *env) showAccount(sb *sandbox.Sandbox, ref string) error {
	a, err := sb.Account(context.Background(), ref)
	if err != nil {
		return err
	}
	thr := "none"
	if a.ApprovalThresholdCents != nil {
		thr = "at or above " + dinoapi.FormatAmount(*a.ApprovalThresholdCents, a.Currency)
	}
	m := func(v int64) string { return dinoapi.FormatAmount(v, a.Currency) }
	fmt.Fprintf(e.stdout, "account:          %s (%s)\nbudget:           %s per %s period\nperiod:           %s to %s (UTC)\nspent:            %s\nremaining:        %s\nmax transaction:  %s\napproval:         %s\npending:          %d\n",
		a.Name, a.ID, m(a.BudgetCents), a.BudgetPeriod, a.PeriodStart.Format(time.RFC3339), a.PeriodEnd.Format(time.RFC3339), m(a.SpentCents), m(a.RemainingBudgetCents),
		m(a.MaxTransactionCents), thr, a.PendingApprovalCount)
	return nil
}

func (e *env) keyIssue(args []string) error {
	return e.command("key issue", args, 1, 1, "one ACCOUNT (id or name)", nil, func(sb *sandbox.Sandbox, c common, pos []string) error {
		plain, k, err := sb.IssueKey(context.Background(), pos[0], c.operator)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, plain)
		fmt.Fprintf(e.stderr, "issued %s for %s; this is the only time the key is shown, the sandbox keeps its hash\n", k.ID, k.AccountID)
		return nil
	})
}

func (e *env) keyRevoke(args []string) error {
	return e.command("key revoke", args, 1, 1, "one KEY_ID (key_…; see dino-sandbox key list)", nil, func(sb *sandbox.Sandbox, c common, pos []string) error {
		k, err := sb.RevokeKey(context.Background(), pos[0], c.operator)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked %s (%s)\n", k.ID, k.Prefix)
		return nil
	})
}

func (e *env) keyList(args []string) error {
	return e.command("key list", args, 0, 1, "at most one ACCOUNT", nil, func(sb *sandbox.Sandbox, _ common, pos []string) error {
		ref := ""
		if len(pos) == 1 {
			ref = pos[0]
		}
		keys, err := sb.ListKeys(context.Background(), ref)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACCOUNT\tPREFIX\tISSUED\tSTATUS")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.AccountID, k.Prefix, k.CreatedAt.Format(time.RFC3339), k.Status())
		}
		return tw.Flush()
	})
}

func (e *env) approvalsList(args []string) error {
	var asJSON *bool
	return e.command("approvals list", args, 0, 0, "", jsonFlag(&asJSON), func(sb *sandbox.Sandbox, _ common, _ []string) error {
		p, err := sb.Pending(context.Background())
		if err != nil {
			return err
		}
		if *asJSON {
			if p == nil {
				p = []sandbox.SpendRecord{}
			}
			return e.printJSON(p)
		}
		if len(p) == 0 {
			fmt.Fprintln(e.stdout, "no pending approvals")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tREQUESTED\tACCOUNT\tAMOUNT\tMERCHANT\tREASON")
		for _, r := range p {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.CreatedAt.Format(time.RFC3339), r.AccountName, dinoapi.FormatAmount(r.AmountCents, r.Currency), r.MerchantName, r.Reason)
		}
		return tw.Flush()
	})
}

func (e *env) decide(args []string, approve bool) error {
	name := "decline"
	if approve {
		name = "approve"
	}
	var reason *string
	return e.command(name, args, 1, 1, "one SPEND_ID (req_…; see dino-sandbox approvals list)", func(fs *flag.FlagSet) func() error {
		reason = fs.String("reason", "", "why it is declined (recorded in the ledger)")
		return func() error {
			if approve && *reason != "" {
				return fail(2, "approve takes no --reason")
			}
			return nil
		}
	}, func(sb *sandbox.Sandbox, c common, pos []string) error {
		var rec sandbox.SpendRecord
		var err error
		if approve {
			rec, err = sb.Approve(context.Background(), pos[0], c.operator)
		} else {
			rec, err = sb.Decline(context.Background(), pos[0], c.operator, *reason)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s: %s at %s (%s)\n", rec.ID, rec.Status, dinoapi.FormatAmount(rec.AmountCents, rec.Currency), rec.MerchantName, rec.DecisionReason)
		return nil
	})
}

func (e *env) ledger(args []string) error {
	var asJSON *bool
	var account, status *string
	var limit *int
	return e.command("ledger", args, 0, 0, "", func(fs *flag.FlagSet) func() error {
		asJSON = fs.Bool("json", false, "print JSON, one array")
		account = fs.String("account", "", "only this account")
		status = fs.String("status", "", "only entries with this status")
		limit = fs.Int("limit", 100, "at most this many entries, newest first")
		return func() error {
			if *limit < 1 || *limit > sandbox.MaxLedgerRows {
				return fail(2, "--limit must be 1 to %d", sandbox.MaxLedgerRows)
			}
			return nil
		}
	}, func(sb *sandbox.Sandbox, _ common, _ []string) error {
		entries, err := sb.Ledger(context.Background(), sandbox.LedgerFilter{AccountID: *account, Status: *status, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			if entries == nil {
				entries = []sandbox.LedgerEntry{}
			}
			return e.printJSON(entries)
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tAT\tKIND\tACCOUNT\tSPEND\tACTOR\tAMOUNT\tDEBIT\tCREDIT\tDETAIL")
		for _, l := range entries {
			detail := l.Detail
			if len(detail) > 60 {
				detail = detail[:57] + "..."
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", l.Seq, l.At.Format(time.RFC3339), l.Kind, l.AccountID, l.SpendRequestID, l.Actor, l.AmountCents, l.DebitCents, l.CreditCents, detail)
		}
		return tw.Flush()
	})
}
