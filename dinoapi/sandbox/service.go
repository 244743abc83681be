package sandbox

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// Sandbox is the governance engine over a Store: every decision, operator action and funding.
// It is safe for concurrent use; the HTTP handlers and the admin CLI both drive it.
type Sandbox struct {
	store *Store
	clock Clock
	// PublicURL is the origin approval_url links point at, such as http://127.0.0.1:8787.
	publicURL string
	// approvalTTL declines a pending request this long after it was made; zero means never.
	approvalTTL time.Duration
}

// Config configures a Sandbox.
type Config struct {
	Clock       Clock
	PublicURL   string
	ApprovalTTL time.Duration
}

// New returns a Sandbox over store.
func New(store *Store, cfg Config) *Sandbox {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	return &Sandbox{store: store, clock: cfg.Clock, publicURL: strings.TrimRight(cfg.PublicURL, "/"), approvalTTL: cfg.ApprovalTTL}
}

// Store returns the underlying store.
func (s *Sandbox) Store() *Store { return s.store }

// SetPublicURL changes the origin of approval_url links (the listener's address is known only
// once it is bound).
func (s *Sandbox) SetPublicURL(u string) { s.publicURL = strings.TrimRight(u, "/") }

// ApprovalURL is the dashboard page where an operator acts on a pending request.
func (s *Sandbox) ApprovalURL(id string) string {
	return s.publicURL + "/agents/approvals?spendRequestId=" + url.QueryEscape(id)
}

func apiErr(code, msg, param string) *dinoapi.APIError {
	return &dinoapi.APIError{HTTPStatus: dinoapi.StatusFor(code), Code: code, Message: msg, Param: param}
}

// Admin-only error codes (the /v1 codes are in dinoapi).
const (
	CodeAlreadyDecided = "spend_already_decided"
	CodeExpired        = "spend_approval_expired"
)

func conflict(code, msg string) *dinoapi.APIError {
	return &dinoapi.APIError{HTTPStatus: http.StatusConflict, Code: code, Message: msg}
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ---- team, wallet and plan ----

// DefaultTeamID is the sandbox's single team.
const DefaultTeamID = "team_sandbox"

// EnsureTeam creates the team if the database has none.
func (s *Sandbox) EnsureTeam(ctx context.Context, name, currency string, planMonthlyVolumeCents int64) error {
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO teams (id, name, currency, plan_monthly_volume_cents, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			DefaultTeamID, name, currency, planMonthlyVolumeCents, formatTime(s.clock.Now()))
		return err
	})
}

// Team returns the team with its wallet balance and this month's plan usage.
func (s *Sandbox) Team(ctx context.Context) (Team, error) {
	return teamState(ctx, s.store.db, s.clock.Now())
}

func teamState(ctx context.Context, q querier, now time.Time) (Team, error) {
	var t Team
	var created string
	err := q.QueryRowContext(ctx, `SELECT id, name, currency, plan_monthly_volume_cents, created_at FROM teams WHERE id = ?`, DefaultTeamID).
		Scan(&t.ID, &t.Name, &t.Currency, &t.PlanMonthlyVolumeCents, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, apiErr(dinoapi.CodeNotFound, "the sandbox has no team yet; run dino-sandbox serve or dino-sandbox demo once", "")
	}
	if err != nil {
		return t, fmt.Errorf("sandbox: read team: %w", err)
	}
	t.CreatedAt = parseTime(created)
	if t.WalletBalanceCents, err = walletBalance(ctx, q, t.ID); err != nil {
		return t, err
	}
	ms, me, _ := PeriodBounds(dinoapi.PeriodMonthly, now)
	if t.PlanUsedCents, err = teamDebits(ctx, q, t.ID, ms, me); err != nil {
		return t, err
	}
	return t, nil
}

func walletBalance(ctx context.Context, q querier, teamID string) (int64, error) {
	var bal int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(credit_cents), 0) - COALESCE(SUM(debit_cents), 0) FROM ledger WHERE team_id = ?`, teamID).Scan(&bal)
	if err != nil {
		return 0, fmt.Errorf("sandbox: wallet balance: %w", err)
	}
	return bal, nil
}

func teamDebits(ctx context.Context, q querier, teamID string, start, end time.Time) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(debit_cents), 0) FROM ledger WHERE team_id = ? AND at >= ? AND at < ?`,
		teamID, formatTime(start), formatTime(end)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sandbox: plan usage: %w", err)
	}
	return n, nil
}

func accountDebits(ctx context.Context, q querier, accountID string, start, end time.Time) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(debit_cents), 0) FROM ledger WHERE account_id = ? AND at >= ? AND at < ?`,
		accountID, formatTime(start), formatTime(end)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sandbox: period spend: %w", err)
	}
	return n, nil
}

// FundWallet adds money to the team wallet's funding source.
func (s *Sandbox) FundWallet(ctx context.Context, amountCents int64, actor string) (Team, error) {
	if amountCents < 1 || amountCents > dinoapi.MaxAmountCents {
		return Team{}, apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("amount_cents must be 1 to %d", int64(dinoapi.MaxAmountCents)), "amount_cents")
	}
	var out Team
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		t, err := teamState(ctx, tx, now)
		if err != nil {
			return err
		}
		if t.WalletBalanceCents > dinoapi.MaxAmountCents-amountCents {
			return apiErr(dinoapi.CodeInvalidRequest, "the wallet balance would exceed the largest amount the sandbox tracks", "amount_cents")
		}
		after := t.WalletBalanceCents + amountCents
		if err := appendLedger(ctx, tx, LedgerEntry{At: now, TeamID: t.ID, Kind: KindWalletFunded, Actor: operatorActor(actor), AmountCents: amountCents,
			CreditCents: amountCents, WalletBeforeCents: &t.WalletBalanceCents, WalletAfterCents: &after}); err != nil {
			return err
		}
		t.WalletBalanceCents = after
		out = t
		return nil
	})
	return out, err
}

// SetPlanVolume sets the team plan's monthly spend volume.
func (s *Sandbox) SetPlanVolume(ctx context.Context, cents int64, actor string) (Team, error) {
	if cents < 0 || cents > dinoapi.MaxAmountCents {
		return Team{}, apiErr(dinoapi.CodeInvalidRequest, "plan_monthly_volume_cents must be 0 or more", "plan_monthly_volume_cents")
	}
	var out Team
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE teams SET plan_monthly_volume_cents = ? WHERE id = ?`, cents, DefaultTeamID); err != nil {
			return err
		}
		if err := appendLedger(ctx, tx, LedgerEntry{At: now, TeamID: DefaultTeamID, Kind: KindPlanUpdated, Actor: operatorActor(actor), AmountCents: cents,
			Detail: fmt.Sprintf("plan monthly volume set to %d", cents)}); err != nil {
			return err
		}
		t, err := teamState(ctx, tx, now)
		out = t
		return err
	})
	return out, err
}

func operatorActor(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "admin"
	}
	if len(name) > 100 {
		name = name[:100]
	}
	return "operator:" + name
}

func appendLedger(ctx context.Context, q querier, e LedgerEntry) error {
	_, err := q.ExecContext(ctx, `INSERT INTO ledger (at, team_id, account_id, spend_request_id, kind, actor, status, amount_cents, debit_cents, credit_cents,
		remaining_before_cents, remaining_after_cents, wallet_before_cents, wallet_after_cents, detail)
		VALUES (?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, ?, ?)`,
		formatTime(e.At), e.TeamID, e.AccountID, e.SpendRequestID, e.Kind, e.Actor, e.Status, e.AmountCents, e.DebitCents, e.CreditCents,
		e.RemainingBeforeCents, e.RemainingAfterCents, e.WalletBeforeCents, e.WalletAfterCents, e.Detail)
	if err != nil {
		return fmt.Errorf("sandbox: append ledger: %w", err)
	}
	return nil
}

// ---- keys ----

// SandboxKeyPrefix starts every sandbox spending key, so one is recognisable at a glance.
const SandboxKeyPrefix = "dino_sk_sandbox_"

// hashKey is SHA-256 of the key: keys are 190 bits of randomness, so a fast hash is enough
// (there is nothing to brute-force) and lookups stay one indexed read.
func hashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

func displayPrefix(plaintext string) string {
	n := len(SandboxKeyPrefix) + 4
	if len(plaintext) < n {
		n = len(plaintext)
	}
	return plaintext[:n] + "…"
}

// IssueKey creates a spending key for an account and returns its plaintext, the only time it
// exists outside the caller: the database keeps the hash.
func (s *Sandbox) IssueKey(ctx context.Context, accountRef, actor string) (string, Key, error) {
	plaintext := SandboxKeyPrefix + newID("k", 32)[2:]
	k, err := s.insertKey(ctx, accountRef, plaintext, actor)
	return plaintext, k, err
}

func (s *Sandbox) insertKey(ctx context.Context, accountRef, plaintext, actor string) (Key, error) {
	var k Key
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		a, err := getAccount(ctx, tx, accountRef)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		k = Key{ID: newID("key", 16), AccountID: a.ID, Prefix: displayPrefix(plaintext), CreatedAt: now}
		if _, err := tx.ExecContext(ctx, `INSERT INTO spending_keys (id, account_id, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, a.ID, hashKey(plaintext), k.Prefix, formatTime(now)); err != nil {
			return fmt.Errorf("sandbox: insert key: %w", err)
		}
		return appendLedger(ctx, tx, LedgerEntry{At: now, TeamID: a.TeamID, AccountID: a.ID, Kind: KindKeyIssued, Actor: operatorActor(actor), Detail: k.ID + " " + k.Prefix})
	})
	return k, err
}

// RevokeKey revokes a key; later requests with it get revoked_api_key.
func (s *Sandbox) RevokeKey(ctx context.Context, keyID, actor string) (Key, error) {
	var k Key
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = getKey(ctx, tx, `id = ?`, keyID); err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return conflict("key_already_revoked", fmt.Sprintf("key %s was already revoked", keyID))
		}
		now := s.clock.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE spending_keys SET revoked_at = ? WHERE id = ?`, formatTime(now), keyID); err != nil {
			return err
		}
		k.RevokedAt = &now
		a, err := getAccount(ctx, tx, k.AccountID)
		if err != nil {
			return err
		}
		return appendLedger(ctx, tx, LedgerEntry{At: now, TeamID: a.TeamID, AccountID: a.ID, Kind: KindKeyRevoked, Actor: operatorActor(actor), Detail: k.ID + " " + k.Prefix})
	})
	return k, err
}

// ListKeys lists an account's keys (or every key when accountRef is empty), newest first.
func (s *Sandbox) ListKeys(ctx context.Context, accountRef string) ([]Key, error) {
	where, args := "1 = 1", []any{}
	if accountRef != "" {
		a, err := getAccount(ctx, s.store.db, accountRef)
		if err != nil {
			return nil, err
		}
		where, args = "account_id = ?", []any{a.ID}
	}
	return queryAll(ctx, s.store.db, scanKey, `SELECT id, account_id, prefix, created_at, revoked_at FROM spending_keys WHERE `+where+` ORDER BY created_at DESC, id`, args...)
}

type scanner interface{ Scan(...any) error }

func scanKey(r scanner) (Key, error) {
	var k Key
	var created string
	var revoked sql.NullString
	if err := r.Scan(&k.ID, &k.AccountID, &k.Prefix, &created, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt = parseTime(created)
	if revoked.Valid {
		t := parseTime(revoked.String)
		k.RevokedAt = &t
	}
	return k, nil
}

func getKey(ctx context.Context, q querier, where string, arg any) (Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT id, account_id, prefix, created_at, revoked_at FROM spending_keys WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return k, apiErr(dinoapi.CodeNotFound, "no such key", "")
	}
	return k, err
}

// Authenticate maps a plaintext spending key to its key and account.
func (s *Sandbox) Authenticate(ctx context.Context, plaintext string) (Key, Account, error) {
	if plaintext == "" || len(plaintext) > 512 {
		return Key{}, Account{}, apiErr(dinoapi.CodeInvalidAPIKey, "Invalid API key: send Authorization: Bearer <spending key>", "")
	}
	k, err := getKey(ctx, s.store.db, `hash = ?`, hashKey(plaintext))
	var ae *dinoapi.APIError
	if errors.As(err, &ae) && ae.Code == dinoapi.CodeNotFound {
		return Key{}, Account{}, apiErr(dinoapi.CodeInvalidAPIKey, "Invalid API key", "")
	}
	if err != nil {
		return Key{}, Account{}, err
	}
	if k.RevokedAt != nil {
		return Key{}, Account{}, apiErr(dinoapi.CodeRevokedAPIKey, "This spending key was revoked; ask the operator for a new one", "")
	}
	a, err := getAccount(ctx, s.store.db, k.AccountID)
	return k, a, err
}

// ---- accounts ----

// AccountParams are the settings of a spend account. On update, nil fields stay as they are;
// ClearApprovalThreshold removes the threshold.
type AccountParams struct {
	Name                   *string `json:"name,omitempty"`
	Currency               *string `json:"currency,omitempty"`
	BudgetCents            *int64  `json:"budget_cents,omitempty"`
	BudgetPeriod           *string `json:"budget_period,omitempty"`
	MaxTransactionCents    *int64  `json:"max_transaction_cents,omitempty"`
	ApprovalThresholdCents *int64  `json:"approval_threshold_cents,omitempty"`
	ClearApprovalThreshold bool    `json:"clear_approval_threshold,omitempty"`
}

func validateAccount(a Account) error {
	switch {
	case strings.TrimSpace(a.Name) == "" || len(a.Name) > 100:
		return apiErr(dinoapi.CodeInvalidRequest, "name must be 1 to 100 characters", "name")
	case len(a.Currency) != 3 || strings.ToLower(a.Currency) != a.Currency || strings.Trim(a.Currency, "abcdefghijklmnopqrstuvwxyz") != "":
		return apiErr(dinoapi.CodeInvalidRequest, "currency must be three lowercase letters, such as usd", "currency")
	case a.BudgetCents < 0 || a.BudgetCents > dinoapi.MaxAmountCents:
		return apiErr(dinoapi.CodeInvalidRequest, "budget_cents must be 0 or more", "budget_cents")
	case !ValidPeriod(a.BudgetPeriod):
		return apiErr(dinoapi.CodeInvalidRequest, "budget_period must be daily, weekly, monthly or yearly", "budget_period")
	case a.MaxTransactionCents < 1 || a.MaxTransactionCents > dinoapi.MaxAmountCents:
		return apiErr(dinoapi.CodeInvalidRequest, "max_transaction_cents must be 1 or more", "max_transaction_cents")
	case a.ApprovalThresholdCents != nil && (*a.ApprovalThresholdCents < 1 || *a.ApprovalThresholdCents > dinoapi.MaxAmountCents):
		return apiErr(dinoapi.CodeInvalidRequest, "approval_threshold_cents must be 1 or more (or absent for no threshold)", "approval_threshold_cents")
	}
	return nil
}

func applyParams(a *Account, p AccountParams) {
	if p.Name != nil {
		a.Name = strings.TrimSpace(*p.Name)
	}
	if p.Currency != nil {
		a.Currency = *p.Currency
	}
	if p.BudgetCents != nil {
		a.BudgetCents = *p.BudgetCents
	}
	if p.BudgetPeriod != nil {
		a.BudgetPeriod = *p.BudgetPeriod
	}
	if p.MaxTransactionCents != nil {
		a.MaxTransactionCents = *p.MaxTransactionCents
	}
	if p.ApprovalThresholdCents != nil {
		v := *p.ApprovalThresholdCents
		a.ApprovalThresholdCents = &v
	}
	if p.ClearApprovalThreshold {
		a.ApprovalThresholdCents = nil
	}
}

// CreateAccount creates a spend account in the team. Name, budget, period and max transaction
// are required; the currency defaults to the team's.
func (s *Sandbox) CreateAccount(ctx context.Context, p AccountParams, actor string) (Account, error) {
	var a Account
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		t, err := teamState(ctx, tx, now)
		if err != nil {
			return err
		}
		a = Account{ID: newID("acct", 16), TeamID: t.ID, Currency: t.Currency, CreatedAt: now, UpdatedAt: now, BudgetPeriod: dinoapi.PeriodMonthly}
		switch {
		case p.Name == nil:
			return apiErr(dinoapi.CodeInvalidRequest, "name is required", "name")
		case p.BudgetCents == nil:
			return apiErr(dinoapi.CodeInvalidRequest, "budget_cents is required", "budget_cents")
		case p.MaxTransactionCents == nil:
			return apiErr(dinoapi.CodeInvalidRequest, "max_transaction_cents is required", "max_transaction_cents")
		}
		applyParams(&a, p)
		if err := validateAccount(a); err != nil {
			return err
		}
		if a.Currency != t.Currency {
			return apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("currency must be the team wallet's currency (%s)", t.Currency), "currency")
		}
		if _, err := getAccount(ctx, tx, a.Name); err == nil {
			return conflict("account_name_taken", fmt.Sprintf("an account named %q already exists", a.Name))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, team_id, name, currency, budget_cents, budget_period, max_transaction_cents, approval_threshold_cents, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.TeamID, a.Name, a.Currency, a.BudgetCents, a.BudgetPeriod, a.MaxTransactionCents, a.ApprovalThresholdCents,
			formatTime(now), formatTime(now)); err != nil {
			return fmt.Errorf("sandbox: insert account: %w", err)
		}
		detail, _ := json.Marshal(a)
		return appendLedger(ctx, tx, LedgerEntry{At: now, TeamID: a.TeamID, AccountID: a.ID, Kind: KindAccountCreated, Actor: operatorActor(actor), Detail: string(detail)})
	})
	return a, err
}

// UpdateAccount changes an account's settings. The change applies to requests decided after it.
func (s *Sandbox) UpdateAccount(ctx context.Context, ref string, p AccountParams, actor string) (Account, error) {
	var a Account
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = getAccount(ctx, tx, ref); err != nil {
			return err
		}
		if p.Currency != nil && *p.Currency != a.Currency {
			return apiErr(dinoapi.CodeInvalidRequest, "an account's currency cannot change", "currency")
		}
		before := a
		applyParams(&a, p)
		if err := validateAccount(a); err != nil {
			return err
		}
		if a.Name != before.Name {
			if _, err := getAccount(ctx, tx, a.Name); err == nil {
				return conflict("account_name_taken", fmt.Sprintf("an account named %q already exists", a.Name))
			}
		}
		now := s.clock.Now()
		a.UpdatedAt = now
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET name = ?, budget_cents = ?, budget_period = ?, max_transaction_cents = ?, approval_threshold_cents = ?, updated_at = ? WHERE id = ?`,
			a.Name, a.BudgetCents, a.BudgetPeriod, a.MaxTransactionCents, a.ApprovalThresholdCents, formatTime(now), a.ID); err != nil {
			return fmt.Errorf("sandbox: update account: %w", err)
		}
		detail, _ := json.Marshal(map[string]any{"before": before, "after": a})
		return appendLedger(ctx, tx, LedgerEntry{At: now, TeamID: a.TeamID, AccountID: a.ID, Kind: KindAccountUpdated, Actor: operatorActor(actor), Detail: string(detail)})
	})
	return a, err
}

func getAccount(ctx context.Context, q querier, ref string) (Account, error) {
	var a Account
	var created, updated string
	var threshold sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT id, team_id, name, currency, budget_cents, budget_period, max_transaction_cents, approval_threshold_cents, created_at, updated_at
		FROM accounts WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1`, ref, ref, ref).
		Scan(&a.ID, &a.TeamID, &a.Name, &a.Currency, &a.BudgetCents, &a.BudgetPeriod, &a.MaxTransactionCents, &threshold, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return a, apiErr(dinoapi.CodeNotFound, fmt.Sprintf("no spend account %q", ref), "")
	}
	if err != nil {
		return a, fmt.Errorf("sandbox: read account: %w", err)
	}
	if threshold.Valid {
		v := threshold.Int64
		a.ApprovalThresholdCents = &v
	}
	a.CreatedAt, a.UpdatedAt = parseTime(created), parseTime(updated)
	return a, nil
}

// Account returns an account (by id or name) with its budget state now.
func (s *Sandbox) Account(ctx context.Context, ref string) (AccountState, error) {
	a, err := getAccount(ctx, s.store.db, ref)
	if err != nil {
		return AccountState{}, err
	}
	return accountState(ctx, s.store.db, a, s.clock.Now())
}

// Accounts lists every account with its budget state now, by name.
func (s *Sandbox) Accounts(ctx context.Context) ([]AccountState, error) {
	ids, err := queryAll(ctx, s.store.db, scanString, `SELECT id FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out := make([]AccountState, 0, len(ids))
	for _, id := range ids {
		st, err := s.Account(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func accountState(ctx context.Context, q querier, a Account, now time.Time) (AccountState, error) {
	st := AccountState{Account: a}
	var err error
	if st.PeriodStart, st.PeriodEnd, err = PeriodBounds(a.BudgetPeriod, now); err != nil {
		return st, err
	}
	if st.SpentCents, err = accountDebits(ctx, q, a.ID, st.PeriodStart, st.PeriodEnd); err != nil {
		return st, err
	}
	st.RemainingBudgetCents = max(0, a.BudgetCents-st.SpentCents)
	err = q.QueryRowContext(ctx, `SELECT COUNT(*) FROM spend_requests WHERE account_id = ? AND status = 'needs_approval'`, a.ID).Scan(&st.PendingApprovalCount)
	return st, err
}

// Balance is the GET /v1/balance body for an account.
func (s *Sandbox) Balance(ctx context.Context, accountID string) (dinoapi.Balance, error) {
	if err := s.expireDue(ctx); err != nil {
		return dinoapi.Balance{}, err
	}
	st, err := s.Account(ctx, accountID)
	if err != nil {
		return dinoapi.Balance{}, err
	}
	return dinoapi.Balance{
		SpendAccountID: st.ID, SpendAccountName: st.Name, BudgetPeriod: st.BudgetPeriod, BudgetCents: st.BudgetCents, SpentCents: st.SpentCents,
		RemainingBudgetCents: st.RemainingBudgetCents, RemainingMonthlyBudgetCents: st.RemainingBudgetCents,
		MaxTransactionCents: st.MaxTransactionCents, ApprovalThresholdCents: st.ApprovalThresholdCents, PendingApprovalCount: st.PendingApprovalCount,
		Currency: st.Currency, PeriodStart: apiTime(st.PeriodStart), PeriodEnd: apiTime(st.PeriodEnd),
	}, nil
}
