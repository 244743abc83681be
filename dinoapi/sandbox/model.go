package sandbox

import (
	"time"
)

// Team is the sandbox's one team: its wallet and its plan.
type Team struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	// PlanMonthlyVolumeCents is how much the team may spend across all accounts per calendar month.
	PlanMonthlyVolumeCents int64 `json:"plan_monthly_volume_cents"`
	// PlanUsedCents is this calendar month's approved spend across all accounts (derived).
	PlanUsedCents int64 `json:"plan_used_cents"`
	// WalletBalanceCents is funding minus approved spend (derived from the ledger).
	WalletBalanceCents int64     `json:"wallet_balance_cents"`
	CreatedAt          time.Time `json:"created_at"`
}

// Account is a spend account and its governance settings.
type Account struct {
	ID                     string    `json:"id"`
	TeamID                 string    `json:"team_id"`
	Name                   string    `json:"name"`
	Currency               string    `json:"currency"`
	BudgetCents            int64     `json:"budget_cents"`
	BudgetPeriod           string    `json:"budget_period"`
	MaxTransactionCents    int64     `json:"max_transaction_cents"`
	ApprovalThresholdCents *int64    `json:"approval_threshold_cents"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// AccountState is an account with its budget state at one moment.
type AccountState struct {
	Account
	PeriodStart          time.Time `json:"period_start"`
	PeriodEnd            time.Time `json:"period_end"`
	SpentCents           int64     `json:"spent_cents"`
	RemainingBudgetCents int64     `json:"remaining_budget_cents"`
	PendingApprovalCount int64     `json:"pending_approval_count"`
}

// Key is a spending key's stored form: never the plaintext, only its hash and a display prefix.
type Key struct {
	ID        string     `json:"id"`
	AccountID string     `json:"account_id"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Status is "active" or "revoked".
func (k Key) Status() string {
	if k.RevokedAt != nil {
		return "revoked"
	}
	return "active"
}

// SpendRecord is a stored spend request.
type SpendRecord struct {
	ID             string     `json:"id"`
	AccountID      string     `json:"account_id"`
	AccountName    string     `json:"account_name,omitempty"`
	KeyID          string     `json:"key_id"`
	AmountCents    int64      `json:"amount_cents"`
	Currency       string     `json:"currency"`
	MerchantName   string     `json:"merchant_name"`
	Reason         string     `json:"reason"`
	Status         string     `json:"status"`
	DecisionReason string     `json:"decision_reason"`
	CreatedAt      time.Time  `json:"created_at"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
	DecidedBy      string     `json:"decided_by,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// LedgerEntry is one append-only ledger row: a decision, an operator action or a funding.
type LedgerEntry struct {
	Seq            int64     `json:"seq"`
	At             time.Time `json:"at"`
	TeamID         string    `json:"team_id"`
	AccountID      string    `json:"account_id,omitempty"`
	SpendRequestID string    `json:"spend_request_id,omitempty"`
	Kind           string    `json:"kind"`
	Actor          string    `json:"actor"`
	Status         string    `json:"status,omitempty"`
	AmountCents    int64     `json:"amount_cents"`
	// DebitCents is what left the budget and the wallet (non-zero only when spend is approved).
	DebitCents int64 `json:"debit_cents"`
	// CreditCents is what entered the wallet (funding).
	CreditCents          int64  `json:"credit_cents"`
	RemainingBeforeCents *int64 `json:"remaining_before_cents,omitempty"`
	RemainingAfterCents  *int64 `json:"remaining_after_cents,omitempty"`
	WalletBeforeCents    *int64 `json:"wallet_before_cents,omitempty"`
	WalletAfterCents     *int64 `json:"wallet_after_cents,omitempty"`
	Detail               string `json:"detail,omitempty"`
}

// Ledger entry kinds.
const (
	KindSpendApproved      = "spend_approved"
	KindSpendDeclined      = "spend_declined"
	KindSpendNeedsApproval = "spend_needs_approval"
	KindApprovalApproved   = "approval_approved"
	KindApprovalDeclined   = "approval_declined"
	KindApprovalExpired    = "approval_expired"
	KindWalletFunded       = "wallet_funded"
	KindPlanUpdated        = "plan_updated"
	KindAccountCreated     = "account_created"
	KindAccountUpdated     = "account_updated"
	KindKeyIssued          = "key_issued"
	KindKeyRevoked         = "key_revoked"
)

// Decision reasons, as production words them where the reference shows them.
const (
	ReasonApproved         = "Spend request approved"
	ReasonNeedsApproval    = "Amount requires approval"
	ReasonOverBudget       = "Amount would exceed the budget for this period"
	ReasonOverMaxTx        = "Amount exceeds the maximum transaction size for this spend account"
	ReasonExpired          = "Approval request expired before an operator acted"
	ReasonOperatorApproved = "Approved by an operator"
	ReasonOperatorDeclined = "Declined by an operator"
)
