package sandbox

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dinoid/dino-mcp/dinoapi"
)

//go:embed web/*.html
var webFS embed.FS

var templateFuncs = template.FuncMap{
	"money": dinoapi.FormatAmount,
	"when": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return ""
	},
	"day":   func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"deref": func(p *int64) int64 { return *p },
	"short": func(s string) string {
		if len(s) > 90 {
			return s[:87] + "…"
		}
		return s
	},
	"statusLabel": func(s string) string {
		switch s {
		case dinoapi.StatusNeedsApproval:
			return "pending approval"
		default:
			return s
		}
	},
}

func parsePage(name string) *template.Template {
	return template.Must(template.New(name).Funcs(templateFuncs).ParseFS(webFS, "web/layout.html", "web/"+name))
}

var pages = map[string]*template.Template{
	"login": parsePage("login.html"), "approval": parsePage("approval.html"), "queue": parsePage("queue.html"),
	"ledger": parsePage("ledger.html"), "accounts": parsePage("accounts.html"),
}

// Dashboard sessions.
const (
	sessionCookie = "dino_sandbox_session"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 1000
	// dashboardActor is who the ledger names for an action taken in the dashboard.
	dashboardActor = "admin (dashboard)"
)

type session struct {
	csrf    string
	expires time.Time
}

type sessionStore struct {
	mu sync.Mutex
	m  map[string]session
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (st *sessionStore) create(now time.Time) (string, session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.m == nil {
		st.m = map[string]session{}
	}
	if len(st.m) >= maxSessions {
		for id, s := range st.m {
			if now.After(s.expires) || len(st.m) >= maxSessions {
				delete(st.m, id)
			}
		}
	}
	id, s := randomToken(), session{csrf: randomToken(), expires: now.Add(sessionTTL)}
	st.m[id] = s
	return id, s
}

func (st *sessionStore) get(id string, now time.Time) (session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.m[id]
	if !ok || now.After(s.expires) {
		delete(st.m, id)
		return session{}, false
	}
	return s, true
}

func (st *sessionStore) drop(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, id)
}

func (s *Server) sessions() *sessionStore { return &s.dash }

func (s *Server) registerDashboard() {
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/agents/approvals", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("GET /agents/approvals", s.approvalsPage)
	s.mux.HandleFunc("POST /agents/approvals/approve", s.act(true))
	s.mux.HandleFunc("POST /agents/approvals/decline", s.act(false))
	s.mux.HandleFunc("GET /ledger", s.ledgerPage)
	s.mux.HandleFunc("GET /ledger.csv", s.ledgerCSV)
	s.mux.HandleFunc("GET /accounts", s.accountsPage)
	s.mux.HandleFunc("POST /accounts/keys/revoke", s.revokeKey)
}

// pageData is what every template gets; each page fills its own fields.
type pageData struct {
	Title, Nav, CSRF, Flash, Error, Next string
	LoggedIn                             bool
	PendingCount                         int

	Spend                                *SpendRecord
	Account                              *AccountState
	Pending, OverBudget, WalletShort     bool
	AfterCents, OverByCents, WalletCents int64
	Spends                               []SpendRecord
	Entries                              []LedgerEntry
	Accounts                             []AccountState
	Statuses                             []string
	Filter                               struct{ Account, Status, Since, Until string }
	Query, Currency                      string
	Team                                 *Team
	Rows                                 []accountRow
	Names                                map[string]string
}

type accountRow struct {
	AccountState
	Keys            []Key
	UsedPct, BarPct int64
	BarClass        string
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, d *pageData) {
	t := pages[page]
	if d.LoggedIn {
		if p, err := s.sb.Pending(r.Context()); err == nil {
			d.PendingCount = len(p)
		}
	}
	var sb strings.Builder
	if err := t.ExecuteTemplate(&sb, page+".html", d); err != nil {
		s.log.Error().Err(err).Str("page", page).Msg("render dashboard page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(sb.String()))
}

// operator returns the signed-in session, or redirects to the login page.
func (s *Server) operator(w http.ResponseWriter, r *http.Request) (session, bool) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess, ok := s.sessions().get(c.Value, s.now()); ok {
			return sess, true
		}
	}
	if r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	} else {
		http.Error(w, "sign in first", http.StatusUnauthorized)
	}
	return session{}, false
}

// sameOrigin refuses a cross-site form post: an Origin that is not this server's own, or a
// browser's Sec-Fetch-Site that says cross-site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https")
}

// checkPost authorises a state-changing dashboard request: a session, a same-origin request and
// the session's CSRF token.
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request) (session, bool) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return session{}, false
	}
	sess, ok := s.operator(w, r)
	if !ok {
		return sess, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxAdminBodyBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return sess, false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) != 1 {
		http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
		return sess, false
	}
	return sess, true
}

func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/agents/approvals"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", &pageData{Title: "Sign in", Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxAdminBodyBytes)
	_ = r.ParseForm()
	next := safeNext(r.PostFormValue("next"))
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(s.cfg.AdminToken)) != 1 {
		s.render(w, r, http.StatusUnauthorized, "login", &pageData{Title: "Sign in", Next: next, Error: "That is not the admin token. (A spending key cannot sign in here.)"})
		return
	}
	id, _ := s.sessions().create(s.now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.checkPost(w, r); !ok {
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions().drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.operator(w, r)
	if !ok {
		return
	}
	id := r.URL.Query().Get("spendRequestId")
	if id == "" {
		spends, err := s.sb.Pending(r.Context())
		d := &pageData{Title: "Pending approvals", Nav: "approvals", CSRF: sess.csrf, LoggedIn: true, Spends: spends}
		if err != nil {
			d.Error = "The approvals could not be read."
		}
		s.render(w, r, http.StatusOK, "queue", d)
		return
	}
	d := &pageData{Title: "Approve spend " + id, Nav: "approvals", CSRF: sess.csrf, LoggedIn: true}
	switch r.URL.Query().Get("done") {
	case "approved":
		d.Flash = "Approved. The agent's get_spend_status now reports it as approved."
	case "declined":
		d.Flash = "Declined. The agent's get_spend_status now reports it as declined."
	}
	s.approvalDetail(w, r, http.StatusOK, id, d)
}

func (s *Server) approvalDetail(w http.ResponseWriter, r *http.Request, status int, id string, d *pageData) {
	ctx := r.Context()
	rec, err := s.sb.SpendRecord(ctx, id)
	if err != nil {
		d.Title, d.Error = "Not found", fmt.Sprintf("There is no spend request %q.", id)
		s.render(w, r, http.StatusNotFound, "queue", d)
		return
	}
	st, err := s.sb.Account(ctx, rec.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Spend, d.Account = &rec, &st
	d.Pending = rec.Status == dinoapi.StatusNeedsApproval
	if d.Pending {
		d.AfterCents = st.BudgetCents - st.SpentCents - rec.AmountCents
		if d.AfterCents < 0 {
			d.OverBudget, d.OverByCents, d.AfterCents = true, -d.AfterCents, 0
		}
		if t, err := s.sb.Team(ctx); err == nil && t.WalletBalanceCents < rec.AmountCents {
			d.WalletShort, d.WalletCents = true, t.WalletBalanceCents
		}
	}
	s.render(w, r, status, "approval", d)
}

func (s *Server) act(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.checkPost(w, r)
		if !ok {
			return
		}
		id := r.PostFormValue("spendRequestId")
		var err error
		done := "approved"
		if approve {
			_, err = s.sb.Approve(r.Context(), id, dashboardActor)
		} else {
			done = "declined"
			_, err = s.sb.Decline(r.Context(), id, dashboardActor, r.PostFormValue("reason"))
		}
		if err != nil {
			var ae *dinoapi.APIError
			if !errors.As(err, &ae) {
				s.fail(w, r, err)
				return
			}
			d := &pageData{Title: "Spend " + id, Nav: "approvals", CSRF: sess.csrf, LoggedIn: true, Error: ae.Message + "."}
			s.approvalDetail(w, r, ae.HTTPStatus, id, d)
			return
		}
		http.Redirect(w, r, "/agents/approvals?spendRequestId="+url.QueryEscape(id)+"&done="+done, http.StatusSeeOther)
	}
}

// ledgerQuery reads the ledger page's filters; an until date includes that whole day.
func ledgerQuery(r *http.Request) (LedgerFilter, *pageData, error) {
	q := r.URL.Query()
	d := &pageData{Statuses: []string{dinoapi.StatusApproved, dinoapi.StatusNeedsApproval, dinoapi.StatusDeclined}}
	d.Filter.Account, d.Filter.Status, d.Filter.Since, d.Filter.Until = q.Get("account"), q.Get("status"), q.Get("since"), q.Get("until")
	f := LedgerFilter{AccountID: d.Filter.Account, Status: d.Filter.Status}
	var err error
	if f.Since, err = parseDate(d.Filter.Since, "since"); err != nil {
		return f, d, err
	}
	if f.Until, err = parseDate(d.Filter.Until, "until"); err != nil {
		return f, d, err
	}
	if !f.Until.IsZero() && len(d.Filter.Until) == len("2006-01-02") {
		f.Until = f.Until.AddDate(0, 0, 1)
	}
	v := url.Values{}
	for k, val := range map[string]string{"account": d.Filter.Account, "status": d.Filter.Status, "since": d.Filter.Since, "until": d.Filter.Until} {
		if val != "" {
			v.Set(k, val)
		}
	}
	d.Query = v.Encode()
	return f, d, nil
}

func (s *Server) ledgerPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.operator(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	f, d, err := ledgerQuery(r)
	d.Title, d.Nav, d.CSRF, d.LoggedIn = "Ledger", "ledger", sess.csrf, true
	d.Names = map[string]string{}
	if accts, aerr := s.sb.Accounts(ctx); aerr == nil {
		d.Accounts = accts
		for _, a := range accts {
			d.Names[a.ID] = a.Name
		}
	}
	if t, terr := s.sb.Team(ctx); terr == nil {
		d.Currency = t.Currency
	}
	if err == nil {
		f.Limit = 500
		d.Entries, err = s.sb.Ledger(ctx, f)
	}
	if err != nil {
		var ae *dinoapi.APIError
		if errors.As(err, &ae) {
			d.Error = ae.Message
		} else {
			d.Error = "The ledger could not be read."
		}
	}
	s.render(w, r, http.StatusOK, "ledger", d)
}

// csvCell keeps a spreadsheet from reading a cell as a formula.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *Server) ledgerCSV(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.operator(w, r); !ok {
		return
	}
	ctx := r.Context()
	f, _, err := ledgerQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entries, err := s.sb.Ledger(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := map[string]string{}
	if accts, err := s.sb.Accounts(ctx); err == nil {
		for _, a := range accts {
			names[a.ID] = a.Name
		}
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="dino-sandbox-ledger.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"seq", "at", "kind", "status", "account_id", "account_name", "spend_request_id", "actor", "amount_cents", "debit_cents", "credit_cents",
		"remaining_before_cents", "remaining_after_cents", "wallet_before_cents", "wallet_after_cents", "detail"})
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	for _, e := range entries {
		_ = cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.Status, e.AccountID, csvCell(names[e.AccountID]), e.SpendRequestID,
			csvCell(e.Actor), strconv.FormatInt(e.AmountCents, 10), strconv.FormatInt(e.DebitCents, 10), strconv.FormatInt(e.CreditCents, 10),
			opt(e.RemainingBeforeCents), opt(e.RemainingAfterCents), opt(e.WalletBeforeCents), opt(e.WalletAfterCents), csvCell(e.Detail)})
	}
	cw.Flush()
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.operator(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	d := &pageData{Title: "Accounts", Nav: "accounts", CSRF: sess.csrf, LoggedIn: true}
	switch r.URL.Query().Get("done") {
	case "revoked":
		d.Flash = "Key revoked. Requests with it now get revoked_api_key."
	}
	if t, err := s.sb.Team(ctx); err == nil {
		d.Team = &t
	}
	accts, err := s.sb.Accounts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, a := range accts {
		keys, err := s.sb.ListKeys(ctx, a.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		row := accountRow{AccountState: a, Keys: keys, BarClass: ""}
		if a.BudgetCents > 0 {
			row.UsedPct = a.SpentCents * 100 / a.BudgetCents
		} else if a.SpentCents > 0 {
			row.UsedPct = 100
		}
		row.BarPct = min(row.UsedPct, 100)
		switch {
		case row.UsedPct > 100:
			row.BarClass = "over"
		case row.UsedPct >= 80:
			row.BarClass = "high"
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "accounts", d)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.checkPost(w, r); !ok {
		return
	}
	if _, err := s.sb.RevokeKey(r.Context(), r.PostFormValue("key_id"), dashboardActor); err != nil {
		var ae *dinoapi.APIError
		if errors.As(err, &ae) {
			http.Error(w, ae.Message, ae.HTTPStatus)
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/accounts?done=revoked", http.StatusSeeOther)
}
