package sandbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/schemas"
)

// Limits of the HTTP surface.
const (
	// MaxSpendBodyBytes caps a POST /v1/spend body; a valid one is under 2 KiB.
	MaxSpendBodyBytes = 16 << 10
	// MaxAdminBodyBytes caps an admin API body.
	MaxAdminBodyBytes = 64 << 10
	// maxLimiters caps how many per-key rate limiters are kept; past it the map is reset, which
	// at worst grants a key a fresh burst.
	maxLimiters = 10000
)

// ServerConfig configures the HTTP server of the sandbox.
type ServerConfig struct {
	// AdminToken authenticates the admin API and the dashboard login. Required.
	AdminToken string
	// RatePerSecond and RateBurst shape each spending key's token bucket; RatePerSecond 0
	// turns rate limiting off.
	RatePerSecond float64
	RateBurst     int
	Logger        zerolog.Logger
}

// DefaultRatePerSecond and DefaultRateBurst are the sandbox's per-key rate limit.
const (
	DefaultRatePerSecond = 25
	DefaultRateBurst     = 50
)

// Server serves /v1, the admin API and the dashboard for a Sandbox.
type Server struct {
	sb       *Sandbox
	cfg      ServerConfig
	log      zerolog.Logger
	mux      *http.ServeMux
	inflight sync.Map // key id + Idempotency-Key → struct{}: requests being decided now

	dash sessionStore // dashboard sign-ins

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter
	now      func() time.Time
}

// NewServer builds the HTTP handler tree.
func NewServer(sb *Sandbox, cfg ServerConfig) (*Server, error) {
	if len(cfg.AdminToken) < 16 {
		return nil, errors.New("sandbox: the admin token must be at least 16 characters")
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = max(1, int(math.Ceil(cfg.RatePerSecond)))
	}
	s := &Server{sb: sb, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), limiters: map[string]*rate.Limiter{}, now: time.Now}
	s.mux.HandleFunc("/v1/", s.v1)
	s.mux.HandleFunc("/admin/v1/", s.admin)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "service": "dino-sandbox", "version": dinoapi.Version})
	})
	s.registerDashboard()
	return s, nil
}

// ServeHTTP gives every response a Request-Id and turns a panic into a 500 whose body carries
// no internals.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := newID("rqid", 20)
	w.Header().Set("Request-Id", rid)
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error().Str("request_id", rid).Str("stack", string(debug.Stack())).Msg("sandbox handler panicked")
			writeError(rec, apiErr(dinoapi.CodeInternalError, "Internal error; quote the Request-Id if you report it", ""))
		}
		s.log.Debug().Str("request_id", rid).Str("method", r.Method).Str("path", r.URL.Path).Int("status", rec.status).Dur("latency", time.Since(start)).Msg("http")
	}()
	s.mux.ServeHTTP(rec, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"Internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes the /v1 error shape. Anything that is not an *APIError is an internal
// error, and its text stays in the logs, never in the body.
func writeError(w http.ResponseWriter, err error) {
	var ae *dinoapi.APIError
	if !errors.As(err, &ae) {
		ae = apiErr(dinoapi.CodeInternalError, "Internal error; quote the Request-Id if you report it", "")
	}
	if ae.Code == dinoapi.CodeInvalidAPIKey || ae.Code == dinoapi.CodeRevokedAPIKey {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dino"`)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int64(math.Ceil(ae.RetryAfter.Seconds()))))
	}
	status := ae.HTTPStatus
	if status == 0 {
		status = dinoapi.StatusFor(ae.Code)
	}
	body := map[string]any{"code": ae.Code, "message": ae.Message}
	if ae.Param != "" {
		body["param"] = ae.Param
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *dinoapi.APIError
	if !errors.As(err, &ae) {
		s.log.Error().Err(err).Str("request_id", w.Header().Get("Request-Id")).Str("path", r.URL.Path).Msg("sandbox internal error")
	}
	writeError(w, err)
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// limiter returns the token bucket of a key.
func (s *Server) allow(keyID string) (bool, time.Duration) {
	if s.cfg.RatePerSecond <= 0 {
		return true, 0
	}
	s.limMu.Lock()
	lim, ok := s.limiters[keyID]
	if !ok {
		if len(s.limiters) >= maxLimiters {
			s.limiters = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(rate.Limit(s.cfg.RatePerSecond), s.cfg.RateBurst)
		s.limiters[keyID] = lim
	}
	s.limMu.Unlock()
	now := s.now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, max(time.Second, d.Round(time.Second))
	}
	return true, 0
}

// v1 is the public agent-spend API. The order is authenticate → rate limit → validate →
// idempotency → decision, as in production.
func (s *Server) v1(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok, ok := bearer(r)
	if !ok {
		writeError(w, apiErr(dinoapi.CodeInvalidAPIKey, "Invalid API key: send Authorization: Bearer <spending key>", ""))
		return
	}
	key, acct, err := s.sb.Authenticate(ctx, tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ok, wait := s.allow(key.ID); !ok {
		e := apiErr(dinoapi.CodeRateLimited, "Rate limit exceeded", "")
		e.RetryAfter = wait
		writeError(w, e)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/v1/spend":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, &dinoapi.APIError{HTTPStatus: http.StatusMethodNotAllowed, Code: dinoapi.CodeInvalidRequest, Message: "use POST /v1/spend to request spend"})
			return
		}
		s.createSpend(ctx, w, r, key)
	case strings.HasPrefix(path, "/v1/spend/"):
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeError(w, &dinoapi.APIError{HTTPStatus: http.StatusMethodNotAllowed, Code: dinoapi.CodeInvalidRequest, Message: "use GET /v1/spend/{id}"})
			return
		}
		id := strings.TrimPrefix(path, "/v1/spend/")
		if !dinoapi.ValidSpendID(id) {
			writeError(w, apiErr(dinoapi.CodeNotFound, fmt.Sprintf("No such spend request: %q", id), "id"))
			return
		}
		sp, err := s.sb.Spend(ctx, acct.ID, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sp)
	case path == "/v1/balance":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeError(w, &dinoapi.APIError{HTTPStatus: http.StatusMethodNotAllowed, Code: dinoapi.CodeInvalidRequest, Message: "use GET /v1/balance"})
			return
		}
		b, err := s.sb.Balance(ctx, acct.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, b)
	default:
		writeError(w, apiErr(dinoapi.CodeNotFound, "No such endpoint: "+path, ""))
	}
}

func (s *Server) createSpend(ctx context.Context, w http.ResponseWriter, r *http.Request, key Key) {
	idem := r.Header.Get("Idempotency-Key")
	switch {
	case idem == "":
		writeError(w, apiErr(dinoapi.CodeInvalidRequest, "The Idempotency-Key header is required on POST /v1/spend; send a new UUID per spending intent and reuse it on retries", "Idempotency-Key"))
		return
	case len(idem) > dinoapi.MaxIdempotencyKeyLen:
		writeError(w, apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("Idempotency-Key must be at most %d characters", dinoapi.MaxIdempotencyKeyLen), "Idempotency-Key"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSpendBodyBytes+1))
	if err != nil {
		writeError(w, apiErr(dinoapi.CodeInvalidRequest, "The request body could not be read", ""))
		return
	}
	if len(body) > MaxSpendBodyBytes {
		writeError(w, apiErr(dinoapi.CodeInvalidRequest, fmt.Sprintf("The request body is larger than %d bytes", MaxSpendBodyBytes), ""))
		return
	}
	if errs := schemas.ValidateJSON(schemas.SpendRequest, body); len(errs) > 0 {
		writeError(w, apiErr(dinoapi.CodeInvalidRequest, schemas.Join(errs), errs[0].Param))
		return
	}
	var req dinoapi.SpendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, apiErr(dinoapi.CodeInvalidRequest, "The request body could not be decoded: "+err.Error(), ""))
		return
	}
	slot := key.ID + "\x00" + idem
	if _, busy := s.inflight.LoadOrStore(slot, struct{}{}); busy {
		e := apiErr(dinoapi.CodeIdempotencyKeyInUse, "A request with this Idempotency-Key is still being processed; retry shortly", "Idempotency-Key")
		e.RetryAfter = time.Second
		writeError(w, e)
		return
	}
	defer s.inflight.Delete(slot)
	// The decision must not be abandoned half way because the client went away: it is one
	// transaction either way, and finishing it means a retry finds the stored answer.
	d, err := s.sb.Decide(context.WithoutCancel(ctx), key, req, idem)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(d.Body)
}

// adminAuth checks the admin token in constant time. A spending key never matches it.
func (s *Server) adminAuth(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1
}
