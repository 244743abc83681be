package dinoapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error codes of the /v1 API.
const (
	CodeInvalidRequest              = "invalid_request"
	CodeInvalidAPIKey               = "invalid_api_key"
	CodeRevokedAPIKey               = "revoked_api_key"
	CodeFundingSourceBudgetExceeded = "funding_source_budget_exceeded"
	CodePlanSpendVolumeExceeded     = "plan_spend_volume_exceeded"
	CodeNotFound                    = "not_found"
	CodeIdempotencyKeyInUse         = "idempotency_key_in_use"
	CodeIdempotencyKeyReused        = "idempotency_key_reused"
	CodeRateLimited                 = "rate_limited"
	CodeInternalError               = "internal_error"

	// CodeInvalidResponse is made by this client, never sent by the API: the reply could not be
	// read (HTML from a proxy, a truncated or oversized body, a shape that is not a /v1 object).
	CodeInvalidResponse = "invalid_response"
)

// StatusFor gives the HTTP status the /v1 contract pairs with an error code.
func StatusFor(code string) int {
	switch code {
	case CodeInvalidRequest:
		return http.StatusBadRequest
	case CodeInvalidAPIKey, CodeRevokedAPIKey:
		return http.StatusUnauthorized
	case CodeFundingSourceBudgetExceeded, CodePlanSpendVolumeExceeded:
		return http.StatusPaymentRequired
	case CodeNotFound:
		return http.StatusNotFound
	case CodeIdempotencyKeyInUse:
		return http.StatusConflict
	case CodeIdempotencyKeyReused:
		return http.StatusUnprocessableEntity
	case CodeRateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// APIError is an error answer from /v1, or a reply this client could not read. Match it with
// errors.As, never by its text.
type APIError struct {
	// HTTPStatus of the reply (0 when no reply was read).
	HTTPStatus int `json:"-"`
	// Code is the machine-readable code, one of the Code constants.
	Code string `json:"code"`
	// Message is the API's explanation.
	Message string `json:"message"`
	// Param names the request field at fault, when there is one.
	Param string `json:"param,omitempty"`
	// RequestID is the reply's Request-Id header, for support.
	RequestID string `json:"-"`
	// RetryAfter is how long the API asked the client to wait (from Retry-After), or zero.
	RetryAfter time.Duration `json:"-"`
	// Attempts counts the HTTP requests made before giving up.
	Attempts int `json:"-"`
	// IdempotencyKey is the key a POST was sent with, so the caller can retry the same intent.
	IdempotencyKey string `json:"-"`
}

// Error renders the code, status, message, param and request id; never a key.
func (e *APIError) Error() string {
	s := fmt.Sprintf("dino api: %s (HTTP %d): %s", e.Code, e.HTTPStatus, e.Message)
	if e.Param != "" {
		s += " [param " + e.Param + "]"
	}
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// TransportError means no usable reply arrived: the connection failed or the timeout ran out.
// For a POST the outcome is unknown, and retrying with IdempotencyKey is the safe way to learn it.
type TransportError struct {
	// Op says what was being done, such as "POST /v1/spend".
	Op string
	// Attempts counts the HTTP requests made before giving up.
	Attempts int
	// Timeout is true when a deadline ran out rather than a connection failing.
	Timeout bool
	// IdempotencyKey is the key a POST was sent with.
	IdempotencyKey string
	// Err is the last underlying error. It never carries the spending key: the key travels in a
	// header, and net/http errors name only the method and URL.
	Err error
}

// Error says what was attempted, how often, and the last failure.
func (e *TransportError) Error() string {
	what := "request failed"
	if e.Timeout {
		what = "timed out"
	}
	return fmt.Sprintf("dino api: %s %s after %d attempt(s): %v", e.Op, what, e.Attempts, e.Err)
}

// Unwrap returns the underlying failure, for errors.Is(err, context.DeadlineExceeded) and the like.
func (e *TransportError) Unwrap() error { return e.Err }

// ErrInvalidSpendID is returned, before any request, for an id that is not a spend request id.
var ErrInvalidSpendID = errors.New(`spend id must look like "req_123": "req_" followed by 1 to 120 letters, digits, '_' or '-'`)
