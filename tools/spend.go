package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/schemas"
)

func (h *handlers) requestSpend(ctx context.Context, call *toolCall) *mcp.CallToolResult {
	raw, oc := call.args, call.oc
	// The body fields are checked against schemas/spend_request.json itself; the one extra
	// argument, idempotency_key, is split off first and checked on its own.
	body, idemKey, errs := splitIdempotencyKey(raw)
	if errs == nil {
		errs = schemas.ValidateJSON(schemas.SpendRequest, body)
	}
	if len(errs) > 0 {
		oc.code = "invalid_arguments"
		return invalidArguments(schemas.Join(errs))
	}
	var args dinoapi.SpendRequest
	if err := decodeStrict(body, &args); err != nil {
		oc.code = "invalid_arguments"
		return invalidArguments(err.Error())
	}
	if res := h.checkPolicy(args); res != nil {
		oc.code = "local_policy"
		return res
	}
	c, res := h.client(ctx)
	if res != nil {
		oc.code = dinoapi.CodeInvalidAPIKey
		return res
	}
	minted := idemKey == ""
	if minted {
		idemKey = h.opts.NewIdempotencyKey()
	}
	spend, err := c.CreateSpend(ctx, args, idemKey)
	if err != nil {
		return apiErrorResult(err, RequestSpend, oc)
	}
	oc.spendID, oc.status, oc.attempts = spend.ID, spend.Status, spend.Meta.Attempts
	if spend.Status == dinoapi.StatusNeedsApproval {
		h.offerApprovalURL(ctx, spend)
	}
	return spendResult(spend, requestSpendText(spend))
}

// splitIdempotencyKey removes idempotency_key from the arguments and checks it.
func splitIdempotencyKey(raw json.RawMessage) (json.RawMessage, string, []schemas.FieldError) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, "", []schemas.FieldError{{Problem: "arguments must be a JSON object: " + err.Error()}}
	}
	v, ok := fields["idempotency_key"]
	if !ok {
		return raw, "", nil
	}
	delete(fields, "idempotency_key")
	fe := schemas.FieldError{Param: "idempotency_key", Hint: idempotencyKeyProperty["description"].(string)}
	var key string
	if err := json.Unmarshal(v, &key); err != nil {
		fe.Problem = "must be a string"
		return nil, "", []schemas.FieldError{fe}
	}
	if key == "" || len(key) > dinoapi.MaxIdempotencyKeyLen {
		fe.Problem = fmt.Sprintf("must be 1 to %d characters, got %d", dinoapi.MaxIdempotencyKeyLen, len(key))
		return nil, "", []schemas.FieldError{fe}
	}
	for _, r := range key {
		if r < ' ' || r > '~' {
			fe.Problem = "must be printable ASCII"
			return nil, "", []schemas.FieldError{fe}
		}
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, "", []schemas.FieldError{{Problem: err.Error()}}
	}
	return body, key, nil
}

func (h *handlers) checkPolicy(req dinoapi.SpendRequest) *mcp.CallToolResult {
	p := h.opts.Policy
	if p.MaxAmountCents > 0 && req.AmountCents > p.MaxAmountCents {
		return policyRefusal(fmt.Sprintf("the amount %s is above this server's local per-call cap of %s (--max-amount-cents)",
			dinoapi.FormatAmount(req.AmountCents, req.Currency), dinoapi.FormatAmount(p.MaxAmountCents, req.Currency)))
	}
	if len(p.MerchantAllowlist) > 0 {
		want := merchantKey(req.MerchantName)
		for _, m := range p.MerchantAllowlist {
			if merchantKey(m) == want {
				return nil
			}
		}
		return policyRefusal(fmt.Sprintf("the merchant %q is not on this server's merchant allowlist (--allow-merchant): %s",
			req.MerchantName, strings.Join(p.MerchantAllowlist, ", ")))
	}
	return nil
}

type spendLookupArgs struct {
	SpendID string `json:"spend_id"`
}

func (h *handlers) getSpendStatus(ctx context.Context, call *toolCall) *mcp.CallToolResult {
	oc := call.oc
	raw, wait, errs := splitWaitSeconds(call.args)
	if errs == nil {
		errs = schemas.ValidateJSON(schemas.SpendLookup, raw)
	}
	if len(errs) > 0 {
		oc.code = "invalid_arguments"
		return invalidArguments(schemas.Join(errs))
	}
	var args spendLookupArgs
	if err := decodeStrict(raw, &args); err != nil {
		oc.code = "invalid_arguments"
		return invalidArguments(err.Error())
	}
	oc.spendID = args.SpendID
	c, res := h.client(ctx)
	if res != nil {
		oc.code = dinoapi.CodeInvalidAPIKey
		return res
	}
	spend, err := h.waitForDecision(ctx, call, c, args.SpendID, wait)
	if err != nil {
		return apiErrorResult(err, GetSpendStatus, oc)
	}
	oc.status, oc.attempts = spend.Status, spend.Meta.Attempts
	if spend.Status != dinoapi.StatusNeedsApproval {
		h.approvalSettled(ctx, spend.ID)
	}
	return spendResult(spend, spendStatusText(spend))
}

func (h *handlers) getBalance(ctx context.Context, call *toolCall) *mcp.CallToolResult {
	raw, oc := call.args, call.oc
	if errs := schemas.ValidateJSON(schemas.BalanceRequest, raw); len(errs) > 0 {
		oc.code = "invalid_arguments"
		return invalidArguments(schemas.Join(errs))
	}
	c, res := h.client(ctx)
	if res != nil {
		oc.code = dinoapi.CodeInvalidAPIKey
		return res
	}
	bal, err := c.GetBalance(ctx)
	if err != nil {
		return apiErrorResult(err, GetBalance, oc)
	}
	oc.attempts = bal.Meta.Attempts
	return structuredResult(bal.Raw, balanceText(bal), false)
}
