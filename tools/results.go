package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// structuredResult carries raw as structuredContent and, because hosts differ in which part
// reaches the model, the same information as text: a plain-language message, then the JSON.
func structuredResult(raw json.RawMessage, message string, isError bool) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		Content:              []mcp.Content{mcp.NewTextContent(message + "\n\n" + string(raw))},
		RawStructuredContent: raw,
		IsError:              isError,
	}
}

// spendResult passes the spend object through exactly as Dino sent it, unknown fields included.
func spendResult(s *dinoapi.Spend, message string) *mcp.CallToolResult {
	return structuredResult(s.Raw, message, false)
}

func money(cents int64, cur string) string { return dinoapi.FormatAmount(cents, cur) }

func replayNote(s *dinoapi.Spend) string {
	if s.Meta.IdempotentReplayed {
		return " This is the stored answer to an earlier request with the same idempotency_key; nothing new was spent."
	}
	return ""
}

func requestSpendText(s *dinoapi.Spend) string {
	amount := money(s.AmountCents, s.Currency)
	switch s.Status {
	case dinoapi.StatusApproved:
		return fmt.Sprintf("APPROVED: spend %s of %s at %s is approved (%s). You may go ahead with this purchase. Remaining %s budget: %s.%s",
			s.ID, amount, s.MerchantName, reasonOr(s.DecisionReason, "Spend request approved"), periodOr(s.BudgetPeriod),
			money(s.RemainingBudgetCents, s.Currency), replayNote(s))
	case dinoapi.StatusNeedsApproval:
		return pendingText(s) + replayNote(s)
	default:
		return fmt.Sprintf("DECLINED: spend %s of %s at %s was declined: %s. Nothing was spent. Retrying the same request will not change the answer, "+
			"and splitting it into smaller requests to get around the decision is not allowed; tell the user why it was declined. Remaining %s budget: %s.%s",
			s.ID, amount, s.MerchantName, reasonOr(s.DecisionReason, "no reason given"), periodOr(s.BudgetPeriod),
			money(s.RemainingBudgetCents, s.Currency), replayNote(s))
	}
}

func pendingText(s *dinoapi.Spend) string {
	url := s.ApprovalURL
	if url == "" {
		url = "(Dino gave no approval link; the operator can find it in the Dino dashboard's approvals)"
	}
	return fmt.Sprintf("PENDING OPERATOR APPROVAL: spend %s of %s at %s needs an operator's approval (%s). "+
		"Nothing has been spent yet. Ask the operator to review it at %s and give them that link. "+
		"Do not retry or split this request: a new request would be a second, separate spend. "+
		"Check back with get_spend_status and spend_id %q to learn when it is approved or declined.",
		s.ID, money(s.AmountCents, s.Currency), s.MerchantName, reasonOr(s.DecisionReason, "Amount requires approval"), url, s.ID)
}

func spendStatusText(s *dinoapi.Spend) string {
	amount := money(s.AmountCents, s.Currency)
	switch s.Status {
	case dinoapi.StatusApproved:
		return fmt.Sprintf("APPROVED: spend %s of %s at %s is approved (%s). You may go ahead with this purchase.",
			s.ID, amount, s.MerchantName, reasonOr(s.DecisionReason, "Spend request approved"))
	case dinoapi.StatusNeedsApproval:
		return "STILL " + pendingText(s)
	default:
		return fmt.Sprintf("DECLINED: spend %s of %s at %s is declined: %s. Nothing was spent; do not make this purchase.",
			s.ID, amount, s.MerchantName, reasonOr(s.DecisionReason, "no reason given"))
	}
}

func balanceText(b *dinoapi.Balance) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Remaining %s budget: %s", periodOr(b.BudgetPeriod), money(b.RemainingBudgetCents, b.Currency))
	if b.BudgetCents > 0 {
		fmt.Fprintf(&sb, " of %s", money(b.BudgetCents, b.Currency))
	}
	if b.PeriodStart != "" && b.PeriodEnd != "" {
		fmt.Fprintf(&sb, " for the period %s to %s (UTC)", b.PeriodStart, b.PeriodEnd)
	}
	fmt.Fprintf(&sb, ". Remaining this calendar month: %s.", money(b.RemainingMonthlyBudgetCents, b.Currency))
	if b.MaxTransactionCents > 0 {
		fmt.Fprintf(&sb, " Largest single spend allowed: %s.", money(b.MaxTransactionCents, b.Currency))
	}
	if b.ApprovalThresholdCents != nil {
		fmt.Fprintf(&sb, " Requests of %s or more need an operator's approval.", money(*b.ApprovalThresholdCents, b.Currency))
	}
	if b.PendingApprovalCount > 0 {
		fmt.Fprintf(&sb, " %d request(s) are waiting for an operator.", b.PendingApprovalCount)
	}
	return sb.String()
}

func reasonOr(s, def string) string {
	if s == "" {
		return def
	}
	return strings.TrimRight(s, ".")
}

func periodOr(p string) string {
	if p == "" {
		return "period"
	}
	return p
}

// errorInfo is the structuredContent of an error result: what happened and what to do next.
type errorInfo struct {
	Code              string `json:"code"`
	Message           string `json:"message"`
	Param             string `json:"param,omitempty"`
	HTTPStatus        int    `json:"http_status,omitempty"`
	RequestID         string `json:"request_id,omitempty"`
	RetryAfterSeconds int64  `json:"retry_after_seconds,omitempty"`
	IdempotencyKey    string `json:"idempotency_key,omitempty"`
	NextStep          string `json:"next_step"`
}

func errorResult(e errorInfo) *mcp.CallToolResult {
	raw, _ := json.Marshal(map[string]errorInfo{"error": e})
	var sb strings.Builder
	fmt.Fprintf(&sb, "ERROR %s: %s", e.Code, strings.TrimRight(e.Message, "."))
	if e.Param != "" {
		fmt.Fprintf(&sb, " (field %s)", e.Param)
	}
	sb.WriteString(". ")
	sb.WriteString(e.NextStep)
	return structuredResult(raw, sb.String(), true)
}

func invalidArguments(detail string) *mcp.CallToolResult {
	return errorResult(errorInfo{Code: "invalid_arguments", Message: "Invalid arguments: " + detail,
		NextStep: "No request was sent to Dino. Fix the arguments as described and call the tool again."})
}

func policyRefusal(why string) *mcp.CallToolResult {
	return errorResult(errorInfo{Code: "local_policy", Message: "Refused by the local policy of this dino-mcp server: " + why,
		NextStep: "No request was sent to Dino and nothing was spent. This limit was set by the operator of this server; " +
			"do not split or reword the purchase to get around it. Tell the user, who can ask the operator to change it."})
}

// apiErrorResult turns a dinoapi error into an isError result naming the code and the next step.
func apiErrorResult(err error, tool string, oc *outcome) *mcp.CallToolResult {
	var apiErr *dinoapi.APIError
	var tErr *dinoapi.TransportError
	switch {
	case errors.As(err, &apiErr):
		oc.code, oc.attempts = apiErr.Code, apiErr.Attempts
		info := errorInfo{Code: apiErr.Code, Message: apiErr.Message, Param: apiErr.Param, HTTPStatus: apiErr.HTTPStatus,
			RequestID: apiErr.RequestID, IdempotencyKey: apiErr.IdempotencyKey}
		if apiErr.RetryAfter > 0 {
			info.RetryAfterSeconds = int64(math.Ceil(apiErr.RetryAfter.Seconds()))
		}
		if info.Message == "" {
			info.Message = "Dino returned " + apiErr.Code
		}
		info.NextStep = nextStep(apiErr, tool)
		return errorResult(info)
	case errors.As(err, &tErr):
		oc.code, oc.attempts = "transport_error", tErr.Attempts
		what := "Dino could not be reached"
		if tErr.Timeout {
			oc.code = "timeout"
			what = "Dino did not answer in time"
		}
		info := errorInfo{Code: oc.code, Message: fmt.Sprintf("%s (%d attempt(s))", what, tErr.Attempts), IdempotencyKey: tErr.IdempotencyKey}
		info.NextStep = unknownOutcome(tool, tErr.IdempotencyKey)
		return errorResult(info)
	case errors.Is(err, dinoapi.ErrInvalidSpendID):
		oc.code = "invalid_arguments"
		return invalidArguments("spend_id: " + err.Error())
	default:
		oc.code = "internal_error"
		return errorResult(errorInfo{Code: "internal_error", Message: "dino-mcp could not make the request",
			NextStep: unknownOutcome(tool, "")})
	}
}

// unknownOutcome is the advice when no decision was read: for request_spend the spend may or may
// not have been made, and only a retry with the same idempotency key finds out safely.
func unknownOutcome(tool, idemKey string) string {
	if tool == RequestSpend && idemKey != "" {
		return fmt.Sprintf("The outcome is unknown: the request may or may not have been decided. Call request_spend again with exactly the same arguments "+
			"and idempotency_key %q to learn the outcome; with that key Dino answers once and never spends twice. Do not make a new request without it.", idemKey)
	}
	if tool == RequestSpend {
		return "Nothing was sent. Call request_spend again in a moment."
	}
	return "Nothing was changed; this tool only reads. Try again in a moment."
}

func nextStep(e *dinoapi.APIError, tool string) string {
	retryIn := func() string {
		if e.RetryAfter > 0 {
			return fmt.Sprintf("%d second(s)", int64(math.Ceil(e.RetryAfter.Seconds())))
		}
		return "a few seconds"
	}
	sameKey := ""
	if tool == RequestSpend && e.IdempotencyKey != "" {
		sameKey = fmt.Sprintf(" with the same arguments and idempotency_key %q, so it can never spend twice", e.IdempotencyKey)
	}
	switch e.Code {
	case dinoapi.CodeInvalidRequest:
		return "Dino rejected the request as invalid and spent nothing. Fix the field it names and call again."
	case dinoapi.CodeInvalidAPIKey:
		return "Dino did not accept the spending key. This is a configuration problem that retrying cannot fix: tell the operator that dino-mcp's Dino spending key is missing or wrong."
	case dinoapi.CodeRevokedAPIKey:
		return "The spending key was revoked. Ask the operator for a new Dino spending key; until dino-mcp is configured with it, every call will fail the same way. Do not retry."
	case dinoapi.CodeFundingSourceBudgetExceeded:
		return "Nothing was spent. Ask the operator to add funds to the team wallet, then request again; retrying before that fails the same way."
	case dinoapi.CodePlanSpendVolumeExceeded:
		return "Nothing was spent. Tell the operator, who can raise the team plan; otherwise the volume resets next month. Retrying now fails the same way."
	case dinoapi.CodeNotFound:
		return "No spend request with that id exists for this spend account. Check the spend_id that request_spend returned (it looks like \"req_…\")."
	case dinoapi.CodeIdempotencyKeyInUse:
		return "A request with the same idempotency_key is still being processed. Wait " + retryIn() + " and call again" + sameKey + "."
	case dinoapi.CodeIdempotencyKeyReused:
		return "That idempotency_key was already used for a different request. For a new purchase leave idempotency_key out or use a new one; to retry the original purchase, resend exactly its arguments."
	case dinoapi.CodeRateLimited:
		return "Too many requests. Nothing was decided. Wait " + retryIn() + ", then call again" + sameKey + "."
	case dinoapi.CodeInvalidResponse:
		return "Dino's reply could not be read. " + unknownOutcome(tool, e.IdempotencyKey)
	default:
		if tool == RequestSpend {
			return "Dino had an internal error. " + unknownOutcome(tool, e.IdempotencyKey)
		}
		return "Dino had an internal error. Nothing was changed; try again in " + retryIn() + "."
	}
}
