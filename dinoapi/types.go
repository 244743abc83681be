// Package dinoapi is a Go client for Dino's public /v1 agent-spend API: typed requests and
// responses, typed errors, retries with a stable Idempotency-Key, and limits on everything it
// reads. It knows HTTP, not MCP; the tools package turns its results into tool results.
package dinoapi

import (
	"encoding/json"
	"regexp"
)

// Version is the version of dino-mcp and this client, sent in the User-Agent.
// Release builds override it with -ldflags "-X github.com/dinoid/dino-mcp/dinoapi.Version=v1.2.3".
var Version = "v0.1.0-dev"

// Spend statuses. A decline is a decision, not an HTTP error.
const (
	StatusApproved      = "approved"
	StatusNeedsApproval = "needs_approval"
	StatusDeclined      = "declined"
)

// Budget periods: calendar windows in UTC.
const (
	PeriodDaily   = "daily"
	PeriodWeekly  = "weekly"
	PeriodMonthly = "monthly"
	PeriodYearly  = "yearly"
)

// Limits of the /v1 contract, mirrored in schemas/.
const (
	// MaxIdempotencyKeyLen is the longest Idempotency-Key the API accepts.
	MaxIdempotencyKeyLen = 255
	// MaxAmountCents is the largest amount a request may carry: the largest integer a JSON
	// reader that uses float64 (JavaScript, most dashboards) represents exactly.
	MaxAmountCents = 1<<53 - 1
)

// SpendRequest is the body of POST /v1/spend.
type SpendRequest struct {
	AmountCents  int64  `json:"amount_cents"`
	Currency     string `json:"currency"`
	MerchantName string `json:"merchant_name"`
	Reason       string `json:"reason"`
}

// Spend is a spend request and its decision. Raw keeps the body exactly as the API sent it, so a
// caller can pass through fields this version of the client does not know yet.
type Spend struct {
	ID                          string `json:"id"`
	Status                      string `json:"status"`
	DecisionReason              string `json:"decision_reason,omitempty"`
	BudgetPeriod                string `json:"budget_period,omitempty"`
	RemainingBudgetCents        int64  `json:"remaining_budget_cents"`
	RemainingMonthlyBudgetCents int64  `json:"remaining_monthly_budget_cents"`
	AmountCents                 int64  `json:"amount_cents"`
	Currency                    string `json:"currency"`
	MerchantName                string `json:"merchant_name"`
	Reason                      string `json:"reason,omitempty"`
	ApprovalURL                 string `json:"approval_url,omitempty"`
	CreatedAt                   string `json:"created_at,omitempty"`
	DecidedAt                   string `json:"decided_at,omitempty"`

	Raw  json.RawMessage `json:"-"`
	Meta ResponseMeta    `json:"-"`
}

// Balance is the budget state of a spend account, the body of GET /v1/balance.
type Balance struct {
	SpendAccountID              string `json:"spend_account_id,omitempty"`
	SpendAccountName            string `json:"spend_account_name,omitempty"`
	BudgetPeriod                string `json:"budget_period"`
	BudgetCents                 int64  `json:"budget_cents"`
	SpentCents                  int64  `json:"spent_cents"`
	RemainingBudgetCents        int64  `json:"remaining_budget_cents"`
	RemainingMonthlyBudgetCents int64  `json:"remaining_monthly_budget_cents"`
	MaxTransactionCents         int64  `json:"max_transaction_cents"`
	ApprovalThresholdCents      *int64 `json:"approval_threshold_cents"`
	PendingApprovalCount        int64  `json:"pending_approval_count"`
	Currency                    string `json:"currency"`
	PeriodStart                 string `json:"period_start"`
	PeriodEnd                   string `json:"period_end"`

	Raw  json.RawMessage `json:"-"`
	Meta ResponseMeta    `json:"-"`
}

// ResponseMeta describes the HTTP exchange behind a result.
type ResponseMeta struct {
	// StatusCode of the final attempt.
	StatusCode int
	// RequestID is the Request-Id header of the final attempt.
	RequestID string
	// Attempts counts the HTTP requests made, retries included.
	Attempts int
	// IdempotentReplayed is true when the API answered from its idempotency store.
	IdempotentReplayed bool
	// IdempotencyKey is the key sent with a POST, the same on every attempt.
	IdempotencyKey string
}

var spendIDPattern = regexp.MustCompile(`^req_[A-Za-z0-9_-]{1,120}$`)

// ValidSpendID reports whether id has the form of a spend request id. The client refuses other
// ids before building a URL, so "../balance" can never reach another endpoint.
func ValidSpendID(id string) bool { return spendIDPattern.MatchString(id) }
