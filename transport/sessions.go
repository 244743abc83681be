package transport

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// sessionTable binds each MCP session to the credential that opened it, caps how many exist,
// and reaps the idle ones. The credential is kept only as a SHA-256 hash.
type sessionTable struct {
	mu   sync.Mutex
	max  int
	byID map[string]*sessionEntry
}

type sessionEntry struct {
	keyHash  [32]byte
	lastSeen time.Time
	cancel   context.CancelFunc // ends an SSE stream; nil for Streamable HTTP
}

func newSessionTable(max int) *sessionTable {
	return &sessionTable{max: max, byID: map[string]*sessionEntry{}}
}

type pendingKey struct{}

type pendingSSE struct {
	keyHash [32]byte
	cancel  context.CancelFunc
	id      string
}

// sseID is the SSE server's session ID generator: it runs inside the GET /sse request, so it
// can bind the new session to the credential guard saw on that request.
func (t *sessionTable) sseID(ctx context.Context, r *http.Request) (string, error) {
	p, _ := r.Context().Value(pendingKey{}).(*pendingSSE)
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	if p != nil {
		p.id = id
		t.mu.Lock()
		t.byID[id] = &sessionEntry{keyHash: p.keyHash, lastSeen: time.Now(), cancel: p.cancel}
		t.mu.Unlock()
	}
	return id, nil
}

func (t *sessionTable) full() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID) >= t.max
}

func (t *sessionTable) serveSSE(w http.ResponseWriter, r *http.Request, keyHash [32]byte, next http.Handler) {
	if t.full() {
		w.Header().Set("Retry-After", "30")
		writeErr(w, http.StatusServiceUnavailable, "too_many_sessions", "the server has reached its session limit; retry later")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	p := &pendingSSE{keyHash: keyHash, cancel: cancel}
	next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, pendingKey{}, p)))
	if p.id != "" {
		t.mu.Lock()
		delete(t.byID, p.id)
		t.mu.Unlock()
	}
}

// check says whether a request on session id with this credential may proceed: 0 for yes,
// else the HTTP status and why.
func (t *sessionTable) check(id string, keyHash [32]byte) (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byID[id]
	if !ok {
		return http.StatusNotFound, "unknown or expired session; open a new one"
	}
	if subtle.ConstantTimeCompare(e.keyHash[:], keyHash[:]) != 1 {
		return http.StatusForbidden, "this session was opened with another credential"
	}
	e.lastSeen = time.Now()
	return 0, ""
}

// sessionHeader is the Streamable HTTP session header.
const sessionHeader = "Mcp-Session-Id"

// captureWriter notes the session id the transport assigns in its response headers.
type captureWriter struct {
	http.ResponseWriter
	onHeader func(h http.Header, status int)
	wrote    bool
}

func (c *captureWriter) WriteHeader(status int) {
	if !c.wrote {
		c.wrote = true
		c.onHeader(c.Header(), status)
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

func (c *captureWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (t *sessionTable) serveStreamable(w http.ResponseWriter, r *http.Request, keyHash [32]byte, next http.Handler) {
	id := r.Header.Get(sessionHeader)
	if id == "" {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if t.full() {
			w.Header().Set("Retry-After", "30")
			writeErr(w, http.StatusServiceUnavailable, "too_many_sessions", "the server has reached its session limit; retry later")
			return
		}
		cw := &captureWriter{ResponseWriter: w, onHeader: func(h http.Header, status int) {
			if sid := h.Get(sessionHeader); sid != "" && status < 300 {
				t.mu.Lock()
				t.byID[sid] = &sessionEntry{keyHash: keyHash, lastSeen: time.Now()}
				t.mu.Unlock()
			}
		}}
		next.ServeHTTP(cw, r)
		return
	}
	if status, msg := t.check(id, keyHash); status != 0 {
		writeErr(w, status, "session_rejected", msg)
		return
	}
	next.ServeHTTP(w, r)
	if r.Method == http.MethodDelete {
		t.mu.Lock()
		delete(t.byID, id)
		t.mu.Unlock()
	}
}

// reap drops sessions idle longer than ttl, ending their SSE streams.
func (t *sessionTable) reap(ctx context.Context, ttl time.Duration, log zerolog.Logger) {
	tick := time.NewTicker(max(ttl/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.mu.Lock()
			for id, e := range t.byID {
				if now.Sub(e.lastSeen) > ttl {
					if e.cancel != nil {
						e.cancel()
					}
					delete(t.byID, id)
					log.Info().Str("session", id).Msg("reaped an idle session")
				}
			}
			t.mu.Unlock()
		}
	}
}

func (t *sessionTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}
