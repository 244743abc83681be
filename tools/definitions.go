package tools

import (
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/schemas"
)

// idempotencyKeyProperty is the one argument request_spend adds to the REST body schema.
var idempotencyKeyProperty = map[string]any{
	"type":      "string",
	"minLength": 1,
	"maxLength": dinoapi.MaxIdempotencyKeyLen,
	"pattern":   "^[\\x20-\\x7E]+$",
	"description": "Optional. A key naming this spending intent, up to 255 printable ASCII characters. " +
		"Send the same key when you retry the same purchase after an error or a timeout, and Dino answers once: it never spends twice. " +
		"Leave it out for a new purchase; dino-mcp then makes one and reports it in the result.",
}

// withProperty is a REST schema from schemas/ plus one optional tool-only argument, so the
// REST fields keep a single source of truth.
func withProperty(schema, name string, prop map[string]any) json.RawMessage {
	var doc map[string]any
	if err := json.Unmarshal(schemas.Document(schema), &doc); err != nil {
		panic(fmt.Sprintf("tools: %s: %v", schema, err))
	}
	doc["properties"].(map[string]any)[name] = prop
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

func annotations(title string, readOnly, destructive, idempotent, openWorld bool) mcp.ToolAnnotation {
	return mcp.ToolAnnotation{
		Title:           title,
		ReadOnlyHint:    mcp.ToBoolPtr(readOnly),
		DestructiveHint: mcp.ToBoolPtr(destructive),
		IdempotentHint:  mcp.ToBoolPtr(idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(openWorld),
	}
}

func requestSpendTool() mcp.Tool {
	return mcp.Tool{
		Name:  RequestSpend,
		Title: "Request spend",
		Description: "Ask Dino for permission to spend money from your spend account before you pay for anything. " +
			"Give the amount in integer cents (12000 means $120.00), the currency (\"usd\"), the merchant and the reason. " +
			"The answer is one of: approved (you may spend it), declined (you may not; the reason says why, and asking again will not change it), " +
			"or needs_approval (pending: nothing is spent until an operator approves it at approval_url; give the operator that link, " +
			"do not retry or split the request, and check back with get_spend_status). " +
			"To retry after an error or timeout, send the same idempotency_key so the purchase is never made twice.",
		RawInputSchema:  withProperty(schemas.SpendRequest, "idempotency_key", idempotencyKeyProperty),
		RawOutputSchema: schemas.Document(schemas.Spend),
		Annotations:     annotations("Request spend", false, false, false, true),
	}
}

func getSpendStatusTool() mcp.Tool {
	return mcp.Tool{
		Name:  GetSpendStatus,
		Title: "Get spend status",
		Description: "Look up a spend request by the spend_id that request_spend returned (\"req_…\") and learn where it stands now: " +
			"a request that needed approval becomes approved or declined once an operator acts on it. " +
			"Pass wait_seconds to wait for the operator's decision instead of polling. Reads only; it never spends.",
		RawInputSchema:  withProperty(schemas.SpendLookup, "wait_seconds", waitSecondsProperty),
		RawOutputSchema: schemas.Document(schemas.Spend),
		Annotations:     annotations("Get spend status", true, false, true, true),
	}
}

func getBalanceTool() mcp.Tool {
	return mcp.Tool{
		Name:  GetBalance,
		Title: "Get balance",
		Description: "Read your spend account's budget: the period (daily, weekly, monthly or yearly, in UTC), what is left in it, " +
			"the largest single transaction allowed and the amount at which an operator must approve. Takes no arguments; reads only.",
		RawInputSchema:  schemas.Document(schemas.BalanceRequest),
		RawOutputSchema: schemas.Document(schemas.Balance),
		Annotations:     annotations("Get balance", true, false, true, true),
	}
}
