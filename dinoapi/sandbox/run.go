package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// The demo data a fresh sandbox is seeded with. DemoKey is published on purpose: it works only
// against a sandbox, and it lets `dino-mcp --sandbox` reach a sandbox another process started.
const (
	DemoKey                = "dino_sk_sandbox_demo_do_not_use_in_production"
	DemoAccountName        = "demo-agent"
	DemoWalletCents        = 1_000_000 // $10,000.00
	DemoPlanVolumeCents    = 5_000_000 // $50,000.00 a month
	DemoBudgetCents        = 100_000   // $1,000.00 a month
	DemoMaxTransactionCent = 75_000    // $750.00
	DemoApprovalThreshold  = 50_000    // $500.00
	// DefaultAddr is where the sandbox listens by default.
	DefaultAddr = "127.0.0.1:8787"
)

// SeedDemo creates, where missing, the team (usd), its funded wallet, the demo-agent account and
// the demo key. It never changes what an operator has already changed: a revoked demo key stays
// revoked, an edited account stays edited.
func (s *Sandbox) SeedDemo(ctx context.Context) error {
	if err := s.EnsureTeam(ctx, "Sandbox team", "usd", DemoPlanVolumeCents); err != nil {
		return err
	}
	var funded int
	if err := s.store.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger WHERE kind = ?`, KindWalletFunded).Scan(&funded); err != nil {
		return err
	}
	if funded == 0 {
		if _, err := s.FundWallet(ctx, DemoWalletCents, "seed"); err != nil {
			return err
		}
	}
	if _, err := getAccount(ctx, s.store.db, DemoAccountName); err != nil {
		name, budget, maxTx, thr, period := DemoAccountName, int64(DemoBudgetCents), int64(DemoMaxTransactionCent), int64(DemoApprovalThreshold), dinoapi.PeriodMonthly
		if _, err := s.CreateAccount(ctx, AccountParams{Name: &name, BudgetCents: &budget, MaxTransactionCents: &maxTx, ApprovalThresholdCents: &thr, BudgetPeriod: &period}, "seed"); err != nil {
			return err
		}
	}
	_, err := getKey(ctx, s.store.db, `hash = ?`, hashKey(DemoKey))
	var ae *dinoapi.APIError
	if errors.As(err, &ae) && ae.Code == dinoapi.CodeNotFound {
		_, err = s.insertKey(ctx, DemoAccountName, DemoKey, "seed")
	}
	return err
}

// Options configures a running sandbox.
type Options struct {
	// DBPath is the database file (DefaultDBPath when empty; MemoryDB for tests).
	DBPath string
	// Addr is the listen address (DefaultAddr when empty; port 0 picks a free one).
	Addr string
	// PublicURL is the origin in approval_url links; it defaults to http://<bound address>.
	PublicURL string
	// AdminToken authenticates operators; a random one is made when empty.
	AdminToken    string
	RatePerSecond float64
	RateBurst     int
	ApprovalTTL   time.Duration
	Clock         Clock
	Logger        zerolog.Logger
	// SeedDemo seeds the demo team, account and key.
	SeedDemo bool
}

// Running is a sandbox serving HTTP.
type Running struct {
	// URL is the origin it serves, such as http://127.0.0.1:8787.
	URL string
	// AdminToken signs operators in to the admin API and the dashboard.
	AdminToken string
	Sandbox    *Sandbox
	server     *http.Server
	done       chan error
}

// Start opens the database, seeds it if asked, binds the address and serves until Shutdown.
func Start(ctx context.Context, opts Options) (*Running, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.AdminToken == "" {
		opts.AdminToken = "dino_admin_" + randomToken()[:40]
	}
	store, err := OpenStore(ctx, opts.DBPath)
	if err != nil {
		return nil, err
	}
	sb := New(store, Config{Clock: opts.Clock, ApprovalTTL: opts.ApprovalTTL})
	if opts.SeedDemo {
		if err := sb.SeedDemo(ctx); err != nil {
			store.Close()
			return nil, fmt.Errorf("sandbox: seed demo data: %w", err)
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("sandbox: listen on %s: %w", opts.Addr, err)
	}
	url := "http://" + ln.Addr().String()
	if opts.PublicURL == "" {
		opts.PublicURL = url
	}
	sb.SetPublicURL(opts.PublicURL)
	h, err := NewServer(sb, ServerConfig{AdminToken: opts.AdminToken, RatePerSecond: opts.RatePerSecond, RateBurst: opts.RateBurst, Logger: opts.Logger})
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10}
	r := &Running{URL: url, AdminToken: opts.AdminToken, Sandbox: sb, server: srv, done: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.done <- err
	}()
	return r, nil
}

// Shutdown stops accepting connections, lets requests in flight finish (bounded by ctx), then
// closes the database.
func (r *Running) Shutdown(ctx context.Context) error {
	err := r.server.Shutdown(ctx)
	if serr := <-r.done; err == nil {
		err = serr
	}
	if cerr := r.Sandbox.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// Probe reports whether a Dino sandbox answers at url (GET /healthz).
func Probe(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Service string `json:"service"`
	}
	return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Service == "dino-sandbox"
}
