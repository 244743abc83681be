package dinoapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits of the client. Every loop and every read is bounded.
const (
	DefaultBaseURL          = "https://api.dino.id"
	DefaultTimeout          = 30 * time.Second
	DefaultMaxRetries       = 2
	DefaultMaxResponseBytes = 1 << 20
	DefaultInitialBackoff   = 250 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	// DefaultMaxRetryAfter is the longest Retry-After the client waits out by itself; a longer one
	// ends the call with the rate_limited error so the caller can decide.
	DefaultMaxRetryAfter = 10 * time.Second
	// MaxRetriesLimit caps Config.MaxRetries so a misconfiguration cannot loop for ever.
	MaxRetriesLimit = 10
)

// Config configures a Client. Zero values take the defaults above.
type Config struct {
	// APIKey is the Dino spending key, sent as a Bearer token. Required.
	APIKey string
	// BaseURL is the API origin, such as https://api.dino.id. Plain http is refused unless the host
	// is loopback, so a key never travels in clear text.
	BaseURL string
	// HTTPClient carries the requests; its own Timeout is left alone.
	HTTPClient *http.Client
	// Timeout bounds each attempt. The caller's context bounds the whole call, retries included.
	Timeout time.Duration
	// MaxRetries is how many times a retryable failure is retried (0 means the default; use
	// NoRetries for none). Capped at MaxRetriesLimit.
	MaxRetries int
	// MaxResponseBytes caps a reply body; a longer one is an invalid_response error.
	MaxResponseBytes int64
	// InitialBackoff and MaxBackoff shape the capped, jittered exponential backoff.
	InitialBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits out by itself.
	MaxRetryAfter time.Duration
	// UserAgent is prefixed to the client's own User-Agent.
	UserAgent string
}

// NoRetries as Config.MaxRetries turns retries off.
const NoRetries = -1

// Client calls /v1. It is safe for concurrent use.
type Client struct {
	key        string
	base       *url.URL
	hc         *http.Client
	timeout    time.Duration
	maxRetries int
	maxBody    int64
	backoff0   time.Duration
	backoffMax time.Duration
	maxRA      time.Duration
	ua         string
}

// NewClient checks cfg and returns a client. The error never contains the key.
func NewClient(cfg Config) (*Client, error) {
	if err := CheckKey(cfg.APIKey); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		key:        cfg.APIKey,
		base:       base,
		hc:         cfg.HTTPClient,
		timeout:    orDuration(cfg.Timeout, DefaultTimeout),
		maxRetries: cfg.MaxRetries,
		maxBody:    cfg.MaxResponseBytes,
		backoff0:   orDuration(cfg.InitialBackoff, DefaultInitialBackoff),
		backoffMax: orDuration(cfg.MaxBackoff, DefaultMaxBackoff),
		maxRA:      orDuration(cfg.MaxRetryAfter, DefaultMaxRetryAfter),
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: http.DefaultTransport}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	case c.maxRetries > MaxRetriesLimit:
		c.maxRetries = MaxRetriesLimit
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	c.ua = "dino-mcp/" + Version + " (dinoapi-go; " + runtime.Version() + ")"
	if cfg.UserAgent != "" {
		c.ua = cfg.UserAgent + " " + c.ua
	}
	return c, nil
}

// WithKey returns a client that shares this one's connections and settings but spends with key.
// A gateway serving many agents uses it to keep each agent on its own spending key.
func (c *Client) WithKey(key string) (*Client, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	cp := *c
	cp.key = key
	return &cp, nil
}

// BaseURL returns the API origin the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// CheckKey rejects an empty key or one that could break an HTTP header. It never echoes the key.
func CheckKey(key string) error {
	if key == "" {
		return errors.New("dino api: no spending key: set DINO_SPEND_KEY to the key the operator issued")
	}
	if len(key) > 512 {
		return errors.New("dino api: the spending key is longer than 512 characters; check that DINO_SPEND_KEY holds only the key")
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f {
			return errors.New("dino api: the spending key contains whitespace or control characters; check DINO_SPEND_KEY for a stray newline or quote")
		}
	}
	return nil
}

// ParseBaseURL checks an API origin: https, or http only to a loopback host.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("dino api: API URL %q is not a URL: %w", raw, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("dino api: API URL %q must look like https://api.dino.id", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("dino api: API URL %q must not carry credentials, a query or a fragment", raw)
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("dino api: API URL %q uses plain http to a host that is not loopback; use https so the spending key is never sent in clear text", raw)
	}
	return u, nil
}

// IsLoopbackHost reports whether host is localhost or a loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CreateSpend asks to spend. idempotencyKey identifies the intent: the same key on every retry,
// by this client or by its caller, makes the API answer once. An empty key is refused.
func (c *Client) CreateSpend(ctx context.Context, req SpendRequest, idempotencyKey string) (*Spend, error) {
	if idempotencyKey == "" || len(idempotencyKey) > MaxIdempotencyKeyLen {
		return nil, fmt.Errorf("dino api: idempotency key must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for _, r := range idempotencyKey {
		if r < ' ' || r > '~' {
			return nil, errors.New("dino api: idempotency key must be printable ASCII")
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("dino api: encode spend request: %w", err)
	}
	var s Spend
	meta, err := c.do(ctx, http.MethodPost, "/v1/spend", body, idempotencyKey, &s, &s.Raw)
	if err != nil {
		return nil, err
	}
	s.Meta = meta
	return &s, nil
}

// GetSpend returns a spend request as it stands now. An id that is not a spend id is refused
// before any request (ErrInvalidSpendID).
func (c *Client) GetSpend(ctx context.Context, id string) (*Spend, error) {
	if !ValidSpendID(id) {
		return nil, ErrInvalidSpendID
	}
	var s Spend
	meta, err := c.do(ctx, http.MethodGet, "/v1/spend/"+url.PathEscape(id), nil, "", &s, &s.Raw)
	if err != nil {
		return nil, err
	}
	s.Meta = meta
	return &s, nil
}

// GetBalance returns the budget state of the key's spend account.
func (c *Client) GetBalance(ctx context.Context) (*Balance, error) {
	var b Balance
	meta, err := c.do(ctx, http.MethodGet, "/v1/balance", nil, "", &b, &b.Raw)
	if err != nil {
		return nil, err
	}
	b.Meta = meta
	return &b, nil
}

// do runs one logical call: attempts, retries and decoding. The Idempotency-Key is fixed before
// the loop, so every retry of a POST is the same intent.
func (c *Client) do(ctx context.Context, method, path string, body []byte, idemKey string, out any, raw *json.RawMessage) (ResponseMeta, error) {
	meta := ResponseMeta{IdempotencyKey: idemKey}
	op := method + " " + path
	var lastErr error
	for attempt := 1; ; attempt++ {
		meta.Attempts = attempt
		status, hdr, respBody, err := c.once(ctx, method, path, body, idemKey)
		var wait time.Duration
		var tooBig *APIError
		if errors.As(err, &tooBig) {
			tooBig.Attempts, tooBig.IdempotencyKey = attempt, idemKey
			return meta, tooBig
		}
		if err != nil {
			if ctx.Err() != nil {
				return meta, c.transportErr(op, meta, ctx.Err(), lastErr)
			}
			lastErr = err
		} else {
			meta.StatusCode = status
			meta.RequestID = hdr.Get("Request-Id")
			meta.IdempotentReplayed = strings.EqualFold(hdr.Get("Idempotent-Replayed"), "true")
			if status >= 200 && status < 300 {
				return meta, decodeSuccess(respBody, status, meta, out, raw)
			}
			apiErr := decodeError(respBody, status, hdr, meta)
			if !retryableStatus(status) {
				return meta, apiErr
			}
			lastErr = apiErr
			wait = apiErr.RetryAfter
			if wait > c.maxRA {
				return meta, apiErr // too long to wait here: the caller decides
			}
		}
		if attempt > c.maxRetries {
			return meta, c.finalErr(op, meta, lastErr)
		}
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return meta, c.finalErr(op, meta, lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return meta, c.finalErr(op, meta, lastErr)
		case <-t.C:
		}
	}
}

func (c *Client) finalErr(op string, meta ResponseMeta, err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return c.transportErr(op, meta, err, nil)
}

func (c *Client) transportErr(op string, meta ResponseMeta, err, last error) error {
	te := &TransportError{Op: op, Attempts: meta.Attempts, IdempotencyKey: meta.IdempotencyKey, Err: err}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		te.Timeout = true
	}
	if errors.Is(err, context.Canceled) && last != nil {
		te.Err = fmt.Errorf("%w (last failure: %v)", err, last)
	}
	return te
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) once(ctx context.Context, method, path string, body []byte, idemKey string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + path
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		// A body cut short is a transport failure; every call here is safe to retry.
		return 0, nil, nil, fmt.Errorf("read HTTP %d reply: %w", resp.StatusCode, err)
	}
	if int64(len(b)) > c.maxBody {
		return resp.StatusCode, resp.Header, nil, &APIError{HTTPStatus: resp.StatusCode, Code: CodeInvalidResponse,
			Message: fmt.Sprintf("HTTP %d reply is larger than the %d-byte limit", resp.StatusCode, c.maxBody), RequestID: resp.Header.Get("Request-Id")}
	}
	return resp.StatusCode, resp.Header, b, nil
}

// scrubURLError keeps the method and a path-only URL; the key is never in a URL, but a base URL
// could carry a host an operator considers private in logs, so only the path is kept.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return &url.Error{Op: ue.Op, URL: u.Path, Err: ue.Err}
		}
	}
	return err
}

func retryableStatus(status int) bool {
	return status == http.StatusConflict || status == http.StatusTooManyRequests || status >= 500
}

// backoff is capped exponential backoff with jitter in [d/2, d].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoff0
	for i := 1; i < attempt && d < c.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.backoffMax)
	half := int64(d / 2)
	if half <= 0 {
		return d
	}
	return time.Duration(half + rand.Int64N(half+1))
}

func decodeSuccess(body []byte, status int, meta ResponseMeta, out any, raw *json.RawMessage) error {
	invalid := func(why string) error {
		return &APIError{HTTPStatus: status, Code: CodeInvalidResponse, Message: why, RequestID: meta.RequestID, Attempts: meta.Attempts, IdempotencyKey: meta.IdempotencyKey}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalid(fmt.Sprintf("HTTP %d reply is not a JSON object", status))
	}
	if err := json.Unmarshal(trimmed, out); err != nil {
		return invalid(fmt.Sprintf("HTTP %d reply could not be read: %v", status, err))
	}
	switch v := out.(type) {
	case *Spend:
		if v.ID == "" || (v.Status != StatusApproved && v.Status != StatusDeclined && v.Status != StatusNeedsApproval) {
			return invalid(fmt.Sprintf("HTTP %d reply is not a spend object (id %q, status %q)", status, v.ID, v.Status))
		}
	case *Balance:
		if v.BudgetPeriod == "" || v.Currency == "" {
			return invalid(fmt.Sprintf("HTTP %d reply is not a balance object", status))
		}
	}
	*raw = append(json.RawMessage(nil), trimmed...)
	return nil
}

func decodeError(body []byte, status int, hdr http.Header, meta ResponseMeta) *APIError {
	e := &APIError{HTTPStatus: status, RequestID: meta.RequestID, Attempts: meta.Attempts, IdempotencyKey: meta.IdempotencyKey}
	e.RetryAfter = parseRetryAfter(hdr.Get("Retry-After"), time.Now())
	var env struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code == "" {
		e.Code = CodeInvalidResponse
		ct := hdr.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		e.Message = fmt.Sprintf("HTTP %d with a body that is not a /v1 error object (%s, %d bytes)", status, ct, len(body))
		if status == http.StatusTooManyRequests {
			e.Code = CodeRateLimited
			e.Message = "Rate limit exceeded"
		}
		return e
	}
	e.Code, e.Message, e.Param = env.Error.Code, env.Error.Message, env.Error.Param
	return e
}

// parseRetryAfter reads delta-seconds or an HTTP date; anything else is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		if n > 86400 {
			n = 86400
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
