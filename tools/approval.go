package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/schemas"
)

// MaxWaitSeconds bounds get_spend_status's wait_seconds.
const MaxWaitSeconds = 120

// waitSecondsProperty is the one argument get_spend_status adds to the REST lookup schema.
var waitSecondsProperty = map[string]any{
	"type":    "integer",
	"minimum": 0,
	"maximum": MaxWaitSeconds,
	"description": fmt.Sprintf("Optional, 0 to %d. If the request is still pending an operator's approval, wait up to this many seconds for the decision "+
		"before answering (with progress notifications when you send a progressToken). The answer is the state at the deadline; waiting never approves anything.", MaxWaitSeconds),
}

// splitWaitSeconds removes wait_seconds from the arguments and checks it.
func splitWaitSeconds(raw json.RawMessage) (json.RawMessage, time.Duration, []schemas.FieldError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, 0, []schemas.FieldError{{Problem: "arguments must be a JSON object: " + err.Error()}}
	}
	v, ok := fields["wait_seconds"]
	if !ok {
		return raw, 0, nil
	}
	delete(fields, "wait_seconds")
	fe := schemas.FieldError{Param: "wait_seconds", Hint: waitSecondsProperty["description"].(string)}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) {
		fe.Problem = "must be a whole number of seconds"
		return nil, 0, []schemas.FieldError{fe}
	}
	if f < 0 || f > MaxWaitSeconds {
		fe.Problem = fmt.Sprintf("must be 0 to %d, got %v", MaxWaitSeconds, f)
		return nil, 0, []schemas.FieldError{fe}
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, 0, []schemas.FieldError{{Problem: err.Error()}}
	}
	return body, time.Duration(f) * time.Second, nil
}

// waitForDecision reads the spend and, while it is pending and wait allows, polls until an
// operator decides it, sending progress notifications when the caller gave a progress token.
// Cancellation by the client ends the wait early with the state last read.
func (h *handlers) waitForDecision(ctx context.Context, call *toolCall, c *dinoapi.Client, id string, wait time.Duration) (*dinoapi.Spend, error) {
	spend, err := c.GetSpend(ctx, id)
	if err != nil || wait <= 0 || spend.Status != dinoapi.StatusNeedsApproval {
		return spend, err
	}
	var token mcp.ProgressToken
	if call.req.Params.Meta != nil {
		token = call.req.Params.Meta.ProgressToken
	}
	srv := server.ServerFromContext(ctx)
	start := time.Now()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(h.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return spend, nil
		case <-call.cancelled:
			return spend, nil
		case <-ctx.Done():
			return spend, nil
		case <-tick.C:
		}
		next, err := c.GetSpend(ctx, id)
		if err != nil {
			return spend, nil // the last good read stands; the wait is best effort
		}
		spend = next
		if spend.Status != dinoapi.StatusNeedsApproval {
			return spend, nil
		}
		if token != nil && srv != nil {
			elapsed := time.Since(start).Seconds()
			_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
				"progressToken": token, "progress": math.Floor(elapsed), "total": wait.Seconds(),
				"message": fmt.Sprintf("spend %s is still pending an operator's approval", id),
			})
		}
	}
}

// elicited remembers which pending spends were offered to the client as a URL elicitation,
// so the client can be told (notifications/elicitation/complete) once the operator has acted.
type elicited struct {
	mu sync.Mutex
	m  map[string]server.ClientSession
}

// offerApprovalURL asks a client that declared URL-mode elicitation (MCP 2025-11-25,
// capabilities.elicitation.url) to open the approval_url for its user. It does not wait for the
// answer, and the answer cannot approve anything: only the operator on the dashboard can.
func (h *handlers) offerApprovalURL(ctx context.Context, spend *dinoapi.Spend) {
	if spend.ApprovalURL == "" {
		return
	}
	srv := server.ServerFromContext(ctx)
	session := server.ClientSessionFromContext(ctx)
	withInfo, ok := session.(server.SessionWithClientInfo)
	if srv == nil || !ok {
		return
	}
	caps := withInfo.GetClientCapabilities()
	if caps.Elicitation == nil || caps.Elicitation.URL == nil {
		return
	}
	id := "dino-approval-" + spend.ID
	msg := fmt.Sprintf("Dino needs an operator to approve spend %s of %s at %s. Open the approval page to review it; nothing is spent until the operator approves it there.",
		spend.ID, money(spend.AmountCents, spend.Currency), spend.MerchantName)
	h.elicited.mu.Lock()
	if h.elicited.m == nil {
		h.elicited.m = map[string]server.ClientSession{}
	}
	h.elicited.m[spend.ID] = session
	h.elicited.mu.Unlock()
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opts.ElicitationTimeout)
	go func() {
		defer cancel()
		res, err := srv.RequestURLElicitation(ectx, session, id, spend.ApprovalURL, msg)
		ev := h.opts.Logger.Info().Str("spend_id", spend.ID).Str("session", session.SessionID())
		if err != nil {
			ev.Str("error", err.Error()).Msg("approval URL elicitation not answered")
			return
		}
		ev.Str("action", string(res.Action)).Msg("approval URL elicitation answered (informational; it approves nothing)")
	}()
}

// approvalSettled tells the client that a URL elicitation it was offered is complete.
func (h *handlers) approvalSettled(ctx context.Context, spendID string) {
	h.elicited.mu.Lock()
	session, ok := h.elicited.m[spendID]
	delete(h.elicited.m, spendID)
	h.elicited.mu.Unlock()
	if srv := server.ServerFromContext(ctx); ok && srv != nil {
		_ = srv.SendElicitationComplete(ctx, session, "dino-approval-"+spendID)
	}
}
