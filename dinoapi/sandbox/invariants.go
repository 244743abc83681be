package sandbox

import (
	"context"
	"fmt"
	"strings"
)

// CheckInvariants audits the database and returns every violation found (nil when sound):
//   - every spend request has exactly one decision entry in the ledger and at most one
//     operator or expiry entry, and only a request that was pending has one;
//   - an approved request was debited exactly its amount, once; others were never debited;
//   - every request has exactly one idempotency record;
//   - the wallet never went below zero, and its balance equals credits minus debits;
//   - in every budget period, spend approved by policy stayed within the account's budget.
//
// Approvals by an operator may exceed a budget on purpose, so they are not counted in the last
// check; the dashboard warns before such an approval.
func (s *Sandbox) CheckInvariants(ctx context.Context) []string {
	var out []string
	check := func(label, query string) {
		rows, err := s.store.db.QueryContext(ctx, query)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: query failed: %v", label, err))
			return
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				out = append(out, fmt.Sprintf("%s: %v", label, err))
				return
			}
			parts := make([]string, len(cols))
			for i, c := range cols {
				parts[i] = fmt.Sprintf("%s=%v", c, vals[i])
			}
			out = append(out, label+": "+strings.Join(parts, " "))
		}
	}
	check("spend request without exactly one decision entry", `
		SELECT s.id, (SELECT COUNT(*) FROM ledger l WHERE l.spend_request_id = s.id AND l.kind LIKE 'spend_%') AS n
		FROM spend_requests s WHERE n <> 1`)
	check("decision entry disagrees with the request", `
		SELECT s.id, s.status, l.kind FROM spend_requests s JOIN ledger l ON l.spend_request_id = s.id AND l.kind LIKE 'spend_%'
		WHERE NOT ((l.kind = 'spend_needs_approval') OR (l.kind = 'spend_' || s.status))`)
	check("more than one settlement entry", `
		SELECT spend_request_id, COUNT(*) AS n FROM ledger WHERE kind LIKE 'approval_%' GROUP BY spend_request_id HAVING n > 1`)
	check("settlement of a request that was never pending", `
		SELECT l.spend_request_id FROM ledger l WHERE l.kind LIKE 'approval_%' AND NOT EXISTS
		(SELECT 1 FROM ledger d WHERE d.spend_request_id = l.spend_request_id AND d.kind = 'spend_needs_approval')`)
	check("pending request with a settlement", `
		SELECT s.id FROM spend_requests s WHERE s.status = 'needs_approval' AND EXISTS (SELECT 1 FROM ledger l WHERE l.spend_request_id = s.id AND l.kind LIKE 'approval_%')`)
	check("debits differ from approved amounts", `
		SELECT s.id, s.status, s.amount_cents, COALESCE((SELECT SUM(debit_cents) FROM ledger l WHERE l.spend_request_id = s.id), 0) AS debited,
		       (SELECT COUNT(*) FROM ledger l WHERE l.spend_request_id = s.id AND l.debit_cents > 0) AS debits
		FROM spend_requests s
		WHERE (s.status = 'approved' AND (debited <> s.amount_cents OR debits <> 1)) OR (s.status <> 'approved' AND debited <> 0)`)
	check("spend request without exactly one idempotency record", `
		SELECT s.id, (SELECT COUNT(*) FROM idempotency i WHERE i.spend_id = s.id) AS n FROM spend_requests s WHERE n <> 1`)
	check("wallet went negative", `
		SELECT seq, wallet_after_cents FROM ledger WHERE wallet_after_cents < 0`)
	check("wallet running balance broken", `
		SELECT l.seq, l.wallet_before_cents,
		       (SELECT COALESCE(SUM(credit_cents), 0) - COALESCE(SUM(debit_cents), 0) FROM ledger p WHERE p.team_id = l.team_id AND p.seq < l.seq) AS expected
		FROM ledger l WHERE l.wallet_before_cents IS NOT NULL AND l.wallet_before_cents <> expected`)
	// Policy approvals per account and period: recompute each period window from the entry times.
	rows, err := s.store.db.QueryContext(ctx, `SELECT l.account_id, l.at, l.debit_cents FROM ledger l WHERE l.kind = 'spend_approved' ORDER BY l.seq`)
	if err != nil {
		return append(out, "budget check: "+err.Error())
	}
	type key struct{ account, start string }
	spent := map[key]int64{}
	type row struct {
		account, at string
		debit       int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.account, &r.at, &r.debit); err != nil {
			rows.Close()
			return append(out, "budget check: "+err.Error())
		}
		all = append(all, r)
	}
	rows.Close()
	for _, r := range all {
		a, err := getAccount(ctx, s.store.db, r.account)
		if err != nil {
			out = append(out, "budget check: "+err.Error())
			continue
		}
		start, _, err := PeriodBounds(a.BudgetPeriod, parseTime(r.at))
		if err != nil {
			continue
		}
		k := key{a.ID, formatTime(start)}
		spent[k] += r.debit
		if spent[k] > a.BudgetCents {
			out = append(out, fmt.Sprintf("policy approvals exceed the budget: account=%s period_start=%s spent=%d budget=%d", a.ID, k.start, spent[k], a.BudgetCents))
		}
	}
	return out
}
