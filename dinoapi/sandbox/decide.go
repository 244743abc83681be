package sandbox

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// RequestHash fingerprints a validated spend request, so a replay with the same meaning but
// different whitespace or field order still matches.
func RequestHash(req dinoapi.SpendRequest) string {
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Decision is the outcome of a POST /v1/spend that reached the decision engine.
type Decision struct {
	// Body is the exact response body, stored for replays byte for byte.
	Body []byte
	// Spend is the decided request.
	Spend dinoapi.Spend
	// Replayed is true when Body came from the idempotency store.
	Replayed bool
}

// Decide runs the decision order after authentication, rate limiting and validation:
// idempotency → max transaction size → approval threshold → period budget → plan volume and
// funding source → approve and post to the ledger. All of it is one transaction, so two
// concurrent requests can never both take the same budget, and the answer a client gets is
// committed before it is sent.
func (s *Sandbox) Decide(ctx context.Context, key Key, req dinoapi.SpendRequest, idemKey string) (Decision, error) {
	hash := RequestHash(req)
	var d Decision
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var storedHash string
		var body []byte
		err := tx.QueryRowContext(ctx, `SELECT request_hash, body FROM idempotency WHERE key_id = ? AND idem_key = ?`, key.ID, idemKey).Scan(&storedHash, &body)
		switch {
		case err == nil:
			if storedHash != hash {
				return apiErr(dinoapi.CodeIdempotencyKeyReused, "This Idempotency-Key was already used with a different request body; use a new key for a new request", "Idempotency-Key")
			}
			d.Body, d.Replayed = body, true
			return json.Unmarshal(body, &d.Spend)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sandbox: read idempotency: %w", err)
		}

		// The key may have been revoked, or the account changed, since authentication.
		k, err := getKey(ctx, tx, `id = ?`, key.ID)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return apiErr(dinoapi.CodeRevokedAPIKey, "This spending key was revoked; ask the operator for a new one", "")
		}
		a, err := getAccount(ctx, tx, k.AccountID)
		if err != nil {
			return err
		}
		if req.Currency != a.Currency {
			return apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("currency must be the spend account's currency (%s)", a.Currency), "currency")
		}
		now := s.clock.Now()
		st, err := accountState(ctx, tx, a, now)
		if err != nil {
			return err
		}
		rec := SpendRecord{ID: newID("req", 24), AccountID: a.ID, KeyID: k.ID, AmountCents: req.AmountCents, Currency: req.Currency,
			MerchantName: req.MerchantName, Reason: req.Reason, CreatedAt: now}
		entry := LedgerEntry{At: now, TeamID: a.TeamID, AccountID: a.ID, SpendRequestID: rec.ID, Actor: "key:" + k.ID, AmountCents: req.AmountCents}
		remainingBefore := a.BudgetCents - st.SpentCents
		remainingAfter := remainingBefore
		switch {
		case req.AmountCents > a.MaxTransactionCents:
			rec.Status, rec.DecisionReason = dinoapi.StatusDeclined, ReasonOverMaxTx
		case a.ApprovalThresholdCents != nil && req.AmountCents >= *a.ApprovalThresholdCents:
			rec.Status, rec.DecisionReason = dinoapi.StatusNeedsApproval, ReasonNeedsApproval
			if s.approvalTTL > 0 {
				exp := now.Add(s.approvalTTL)
				rec.ExpiresAt = &exp
			}
		case st.SpentCents+req.AmountCents > a.BudgetCents:
			rec.Status, rec.DecisionReason = dinoapi.StatusDeclined, ReasonOverBudget
		default:
			wallet, err := s.checkTeamFunds(ctx, tx, a.TeamID, req.AmountCents, now)
			if err != nil {
				return err
			}
			rec.Status, rec.DecisionReason = dinoapi.StatusApproved, ReasonApproved
			remainingAfter = remainingBefore - req.AmountCents
			walletAfter := wallet - req.AmountCents
			entry.DebitCents = req.AmountCents
			entry.WalletBeforeCents, entry.WalletAfterCents = &wallet, &walletAfter
			decided := now
			rec.DecidedAt, rec.DecidedBy = &decided, "policy"
		}
		if rec.Status == dinoapi.StatusDeclined {
			decided := now
			rec.DecidedAt, rec.DecidedBy = &decided, "policy"
		}
		if err := insertSpend(ctx, tx, rec); err != nil {
			return err
		}
		entry.Kind = "spend_" + rec.Status
		entry.Status = rec.Status
		entry.RemainingBeforeCents, entry.RemainingAfterCents = &remainingBefore, &remainingAfter
		entry.Detail = rec.DecisionReason
		if err := appendLedger(ctx, tx, entry); err != nil {
			return err
		}
		d.Spend = s.render(rec, a, max(0, remainingAfter))
		if d.Body, err = json.Marshal(d.Spend); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency (key_id, idem_key, request_hash, spend_id, status_code, body, created_at) VALUES (?, ?, ?, ?, 200, ?, ?)`,
			k.ID, idemKey, hash, rec.ID, d.Body, formatTime(now)); err != nil {
			return fmt.Errorf("sandbox: store idempotency: %w", err)
		}
		return nil
	})
	return d, err
}

// checkTeamFunds checks the plan's monthly volume, then the wallet, for a debit of amount, and
// returns the wallet balance before it.
func (s *Sandbox) checkTeamFunds(ctx context.Context, q querier, teamID string, amount int64, now time.Time) (int64, error) {
	t, err := teamState(ctx, q, now)
	if err != nil {
		return 0, err
	}
	if t.PlanUsedCents+amount > t.PlanMonthlyVolumeCents {
		return 0, apiErr(dinoapi.CodePlanSpendVolumeExceeded, "The team plan's spend volume for this month is used up", "")
	}
	if t.WalletBalanceCents < amount {
		return 0, apiErr(dinoapi.CodeFundingSourceBudgetExceeded, "The team wallet's funding source cannot cover this amount", "")
	}
	return t.WalletBalanceCents, nil
}

func insertSpend(ctx context.Context, q querier, r SpendRecord) error {
	_, err := q.ExecContext(ctx, `INSERT INTO spend_requests (id, account_id, key_id, amount_cents, currency, merchant_name, reason, status, decision_reason, created_at, decided_at, decided_by, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), ?)`,
		r.ID, r.AccountID, r.KeyID, r.AmountCents, r.Currency, r.MerchantName, r.Reason, r.Status, r.DecisionReason, formatTime(r.CreatedAt),
		nullTime(r.DecidedAt), r.DecidedBy, nullTime(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sandbox: insert spend request: %w", err)
	}
	return nil
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// render is the /v1 spend object. approval_url appears only while the request is pending.
func (s *Sandbox) render(r SpendRecord, a Account, remaining int64) dinoapi.Spend {
	sp := dinoapi.Spend{ID: r.ID, Status: r.Status, DecisionReason: r.DecisionReason, BudgetPeriod: a.BudgetPeriod,
		RemainingBudgetCents: remaining, RemainingMonthlyBudgetCents: remaining, AmountCents: r.AmountCents, Currency: r.Currency,
		MerchantName: r.MerchantName, Reason: r.Reason, CreatedAt: apiTime(r.CreatedAt)}
	if r.Status == dinoapi.StatusNeedsApproval {
		sp.ApprovalURL = s.ApprovalURL(r.ID)
	}
	if r.DecidedAt != nil {
		sp.DecidedAt = apiTime(*r.DecidedAt)
	}
	return sp
}

const spendColumns = `s.id, s.account_id, a.name, s.key_id, s.amount_cents, s.currency, s.merchant_name, s.reason, s.status, s.decision_reason, s.created_at, s.decided_at, s.decided_by, s.expires_at`

func scanSpend(r scanner) (SpendRecord, error) {
	var rec SpendRecord
	var created string
	var decided, by, expires sql.NullString
	if err := r.Scan(&rec.ID, &rec.AccountID, &rec.AccountName, &rec.KeyID, &rec.AmountCents, &rec.Currency, &rec.MerchantName, &rec.Reason, &rec.Status, &rec.DecisionReason,
		&created, &decided, &by, &expires); err != nil {
		return rec, err
	}
	rec.CreatedAt = parseTime(created)
	if decided.Valid {
		t := parseTime(decided.String)
		rec.DecidedAt = &t
	}
	rec.DecidedBy = by.String
	if expires.Valid {
		t := parseTime(expires.String)
		rec.ExpiresAt = &t
	}
	return rec, nil
}

func getSpend(ctx context.Context, q querier, id string) (SpendRecord, error) {
	rec, err := scanSpend(q.QueryRowContext(ctx, `SELECT `+spendColumns+` FROM spend_requests s JOIN accounts a ON a.id = s.account_id WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return rec, apiErr(dinoapi.CodeNotFound, fmt.Sprintf("No such spend request: %s", id), "id")
	}
	return rec, err
}

// Spend returns a spend request as the key's account sees it. Another account's request is
// not_found, exactly as a missing one, so ids never leak across accounts.
func (s *Sandbox) Spend(ctx context.Context, accountID, id string) (dinoapi.Spend, error) {
	if err := s.expireDue(ctx); err != nil {
		return dinoapi.Spend{}, err
	}
	rec, err := getSpend(ctx, s.store.db, id)
	if err == nil && rec.AccountID != accountID {
		err = apiErr(dinoapi.CodeNotFound, fmt.Sprintf("No such spend request: %s", id), "id")
	}
	if err != nil {
		return dinoapi.Spend{}, err
	}
	st, err := s.Account(ctx, rec.AccountID)
	if err != nil {
		return dinoapi.Spend{}, err
	}
	return s.render(rec, st.Account, st.RemainingBudgetCents), nil
}

// SpendRecord returns a stored spend request for an operator.
func (s *Sandbox) SpendRecord(ctx context.Context, id string) (SpendRecord, error) {
	if err := s.expireDue(ctx); err != nil {
		return SpendRecord{}, err
	}
	return getSpend(ctx, s.store.db, id)
}

// Pending lists the requests waiting for an operator, newest first.
func (s *Sandbox) Pending(ctx context.Context) ([]SpendRecord, error) {
	if err := s.expireDue(ctx); err != nil {
		return nil, err
	}
	return s.listSpends(ctx, `s.status = 'needs_approval'`)
}

func (s *Sandbox) listSpends(ctx context.Context, where string, args ...any) ([]SpendRecord, error) {
	return queryAll(ctx, s.store.db, scanSpend, `SELECT `+spendColumns+` FROM spend_requests s JOIN accounts a ON a.id = s.account_id WHERE `+where+` ORDER BY s.created_at DESC, s.id DESC LIMIT 1000`, args...)
}

// expireDue declines every pending request whose approval time ran out, with a ledger entry
// by "system". It runs lazily before anything reads pending state, so an injected clock fully
// controls expiry.
func (s *Sandbox) expireDue(ctx context.Context) error {
	if s.approvalTTL <= 0 {
		return nil
	}
	now := s.clock.Now()
	var n int
	if err := s.store.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM spend_requests WHERE status = 'needs_approval' AND expires_at IS NOT NULL AND expires_at <= ?`, formatTime(now)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		ids, err := queryAll(ctx, tx, scanString, `SELECT id FROM spend_requests WHERE status = 'needs_approval' AND expires_at IS NOT NULL AND expires_at <= ? LIMIT 1000`, formatTime(now))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.settle(ctx, tx, id, dinoapi.StatusDeclined, "system", ReasonExpired, KindApprovalExpired, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// Approve approves a pending request as operator actor. The plan volume and the wallet are
// checked again (the period budget is not: approving past it is the operator's call, and the
// dashboard warns about it). The request stays pending if they fail.
func (s *Sandbox) Approve(ctx context.Context, id, actor string) (SpendRecord, error) {
	return s.act(ctx, id, actor, dinoapi.StatusApproved, "")
}

// Decline declines a pending request as operator actor, with an optional reason.
func (s *Sandbox) Decline(ctx context.Context, id, actor, reason string) (SpendRecord, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 {
		return SpendRecord{}, apiErr(dinoapi.CodeInvalidRequest, "reason must be at most 500 characters", "reason")
	}
	return s.act(ctx, id, actor, dinoapi.StatusDeclined, reason)
}

func (s *Sandbox) act(ctx context.Context, id, actor, status, reason string) (SpendRecord, error) {
	if err := s.expireDue(ctx); err != nil {
		return SpendRecord{}, err
	}
	var rec SpendRecord
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if rec, err = getSpend(ctx, tx, id); err != nil {
			return err
		}
		if rec.Status != dinoapi.StatusNeedsApproval {
			if rec.DecidedBy == "system" {
				return conflict(CodeExpired, fmt.Sprintf("spend %s expired before anyone acted (declined at %s); nothing changed", id, apiTime(*rec.DecidedAt)))
			}
			return conflict(CodeAlreadyDecided, fmt.Sprintf("spend %s is already %s; nothing changed", id, rec.Status))
		}
		kind, decision := KindApprovalApproved, ReasonOperatorApproved
		if status == dinoapi.StatusDeclined {
			kind, decision = KindApprovalDeclined, ReasonOperatorDeclined
			if reason != "" {
				decision += ": " + reason
			}
		}
		if err := s.settle(ctx, tx, id, status, operatorActor(actor), decision, kind, s.clock.Now()); err != nil {
			return err
		}
		rec, err = getSpend(ctx, tx, id)
		return err
	})
	return rec, err
}

// settle moves a pending request to approved or declined and appends the ledger entry.
func (s *Sandbox) settle(ctx context.Context, tx *sql.Tx, id, status, actor, decision, kind string, now time.Time) error {
	rec, err := getSpend(ctx, tx, id)
	if err != nil {
		return err
	}
	a, err := getAccount(ctx, tx, rec.AccountID)
	if err != nil {
		return err
	}
	st, err := accountState(ctx, tx, a, now)
	if err != nil {
		return err
	}
	before := a.BudgetCents - st.SpentCents
	after := before
	entry := LedgerEntry{At: now, TeamID: a.TeamID, AccountID: a.ID, SpendRequestID: id, Kind: kind, Actor: actor, Status: status,
		AmountCents: rec.AmountCents, RemainingBeforeCents: &before, RemainingAfterCents: &after, Detail: decision}
	if status == dinoapi.StatusApproved {
		wallet, err := s.checkTeamFunds(ctx, tx, a.TeamID, rec.AmountCents, now)
		if err != nil {
			return err
		}
		walletAfter := wallet - rec.AmountCents
		after = before - rec.AmountCents
		entry.DebitCents = rec.AmountCents
		entry.WalletBeforeCents, entry.WalletAfterCents = &wallet, &walletAfter
	}
	res, err := tx.ExecContext(ctx, `UPDATE spend_requests SET status = ?, decision_reason = ?, decided_at = ?, decided_by = ? WHERE id = ? AND status = 'needs_approval'`,
		status, decision, formatTime(now), actor, id)
	if err != nil {
		return fmt.Errorf("sandbox: settle %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return conflict(CodeAlreadyDecided, fmt.Sprintf("spend %s is no longer pending", id))
	}
	return appendLedger(ctx, tx, entry)
}

// LedgerFilter narrows a ledger listing. Zero fields match everything.
type LedgerFilter struct {
	AccountID string
	Status    string
	Kind      string
	Since     time.Time
	Until     time.Time
	Limit     int
}

// MaxLedgerRows caps one ledger listing.
const MaxLedgerRows = 10000

// Ledger lists ledger entries, newest first.
func (s *Sandbox) Ledger(ctx context.Context, f LedgerFilter) ([]LedgerEntry, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.AccountID != "" {
		a, err := getAccount(ctx, s.store.db, f.AccountID)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "account_id = ?"), append(args, a.ID)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, formatTime(f.Until))
	}
	if f.Limit <= 0 || f.Limit > MaxLedgerRows {
		f.Limit = MaxLedgerRows
	}
	args = append(args, f.Limit)
	return queryAll(ctx, s.store.db, scanLedger, `SELECT seq, at, team_id, COALESCE(account_id, ''), COALESCE(spend_request_id, ''), kind, actor, COALESCE(status, ''),
		amount_cents, debit_cents, credit_cents, remaining_before_cents, remaining_after_cents, wallet_before_cents, wallet_after_cents, detail
		FROM ledger WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...)
}

func scanLedger(r scanner) (LedgerEntry, error) {
	var e LedgerEntry
	var at string
	var rb, ra, wb, wa sql.NullInt64
	if err := r.Scan(&e.Seq, &at, &e.TeamID, &e.AccountID, &e.SpendRequestID, &e.Kind, &e.Actor, &e.Status, &e.AmountCents, &e.DebitCents, &e.CreditCents,
		&rb, &ra, &wb, &wa, &e.Detail); err != nil {
		return e, err
	}
	e.At = parseTime(at)
	e.RemainingBeforeCents, e.RemainingAfterCents, e.WalletBeforeCents, e.WalletAfterCents = nullInt(rb), nullInt(ra), nullInt(wb), nullInt(wa)
	return e, nil
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}
