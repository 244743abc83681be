package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// operatorName is who acts: the X-Dino-Operator header, else "admin".
func operatorName(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	if h := strings.TrimSpace(r.Header.Get("X-Dino-Operator")); h != "" {
		return h
	}
	return "admin"
}

// decodeBody decodes a strict JSON body (unknown fields are errors, naming the field).
func decodeBody(r *http.Request, dst any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxAdminBodyBytes+1))
	if err != nil {
		return apiErr(dinoapi.CodeInvalidRequest, "the request body could not be read", "")
	}
	if len(b) > MaxAdminBodyBytes {
		return apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("the request body is larger than %d bytes", MaxAdminBodyBytes), "")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apiErr(dinoapi.CodeInvalidRequest, "the request body is not valid: "+err.Error(), "")
	}
	return nil
}

// admin is the operators' API under /admin/v1. It needs the admin token; a spending key is
// refused like any other wrong token.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	if !s.adminAuth(r) {
		writeError(w, apiErr(dinoapi.CodeInvalidAPIKey, "the admin API needs Authorization: Bearer <admin token>; spending keys are not accepted here", ""))
		return
	}
	s.adminRoute(w, r)
}

func (s *Server) adminRoute(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/admin/v1"), "/"), "/")
	route := r.Method + " " + parts[0]
	reply := func(v any, err error) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
	var body struct {
		Operator               string `json:"operator"`
		AmountCents            *int64 `json:"amount_cents"`
		PlanMonthlyVolumeCents *int64 `json:"plan_monthly_volume_cents"`
		Reason                 string `json:"reason"`
		AccountParams
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if err := decodeBody(r, &body); err != nil {
			writeError(w, err)
			return
		}
	}
	op := operatorName(r, body.Operator)
	switch {
	case route == "GET team" && len(parts) == 1:
		reply(s.sb.Team(ctx))
	case route == "POST wallet" && len(parts) == 2 && parts[1] == "fund":
		if body.AmountCents == nil {
			writeError(w, apiErr(dinoapi.CodeInvalidRequest, "amount_cents is required", "amount_cents"))
			return
		}
		reply(s.sb.FundWallet(ctx, *body.AmountCents, op))
	case route == "POST team" && len(parts) == 2 && parts[1] == "plan":
		if body.PlanMonthlyVolumeCents == nil {
			writeError(w, apiErr(dinoapi.CodeInvalidRequest, "plan_monthly_volume_cents is required", "plan_monthly_volume_cents"))
			return
		}
		reply(s.sb.SetPlanVolume(ctx, *body.PlanMonthlyVolumeCents, op))
	case route == "GET accounts" && len(parts) == 1:
		reply(s.sb.Accounts(ctx))
	case route == "POST accounts" && len(parts) == 1:
		reply(s.sb.CreateAccount(ctx, body.AccountParams, op))
	case route == "GET accounts" && len(parts) == 2:
		reply(s.sb.Account(ctx, parts[1]))
	case route == "PATCH accounts" && len(parts) == 2:
		reply(s.sb.UpdateAccount(ctx, parts[1], body.AccountParams, op))
	case route == "GET accounts" && len(parts) == 3 && parts[2] == "keys":
		reply(s.sb.ListKeys(ctx, parts[1]))
	case route == "POST accounts" && len(parts) == 3 && parts[2] == "keys":
		plain, k, err := s.sb.IssueKey(ctx, parts[1], op)
		reply(map[string]any{"key": plain, "spending_key": k, "note": "the plaintext key is shown only now; the sandbox keeps its hash"}, err)
	case route == "GET keys" && len(parts) == 1:
		reply(s.sb.ListKeys(ctx, ""))
	case route == "POST keys" && len(parts) == 3 && parts[2] == "revoke":
		reply(s.sb.RevokeKey(ctx, parts[1], op))
	case route == "GET approvals" && len(parts) == 1:
		reply(s.sb.Pending(ctx))
	case route == "GET spend" && len(parts) == 2:
		reply(s.sb.SpendRecord(ctx, parts[1]))
	case route == "POST spend" && len(parts) == 3 && parts[2] == "approve":
		reply(s.sb.Approve(ctx, parts[1], op))
	case route == "POST spend" && len(parts) == 3 && parts[2] == "decline":
		reply(s.sb.Decline(ctx, parts[1], op, body.Reason))
	case route == "GET ledger" && len(parts) == 1:
		f, err := ledgerFilter(r)
		if err != nil {
			writeError(w, err)
			return
		}
		reply(s.sb.Ledger(ctx, f))
	default:
		writeError(w, apiErr(dinoapi.CodeNotFound, fmt.Sprintf("no admin endpoint %s %s", r.Method, r.URL.Path), ""))
	}
}

// ledgerFilter reads ?account=&status=&kind=&since=&until=&limit= (dates as 2006-01-02 or RFC 3339).
func ledgerFilter(r *http.Request) (LedgerFilter, error) {
	q := r.URL.Query()
	f := LedgerFilter{AccountID: q.Get("account"), Status: q.Get("status"), Kind: q.Get("kind")}
	var err error
	if f.Since, err = parseDate(q.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseDate(q.Get("until"), "until"); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLedgerRows {
			return f, apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("limit must be 1 to %d", MaxLedgerRows), "limit")
		}
		f.Limit = n
	}
	return f, nil
}

func parseDate(v, param string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, apiErr(dinoapi.CodeInvalidRequest, param+" must be a date such as 2026-12-01 or an RFC 3339 time", param)
}
