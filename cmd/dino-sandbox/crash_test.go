package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/dinoapi/sandbox"
	"github.com/dinoid/dino-mcp/internal/e2e"
)

const adminToken = "crash_test_admin_token_0123456789"

var servingRE = regexp.MustCompile(`serving (http://127\.0\.0\.1:\d+)`)

func startSandbox(t *testing.T, db string, addr string) (*e2e.Proc, string) {
	t.Helper()
	p := e2e.Start(t, e2e.Build(t, "dino-sandbox"), []string{"serve", "--db", db, "--addr", addr, "--rate-limit", "0"}, "DINO_SANDBOX_ADMIN_TOKEN="+adminToken)
	var url string
	e2e.WaitFor(t, 60*time.Second, "the sandbox to serve", func() bool {
		m := servingRE.FindStringSubmatch(p.Stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return p, url
}

type received struct {
	idem   string
	body   []byte
	id     string
	status string
}

func post(url, idem string, amount int) (*received, error) {
	body := fmt.Sprintf(`{"amount_cents":%d,"currency":"usd","merchant_name":"Crash","reason":"durability"}`, amount)
	req, _ := http.NewRequest("POST", url+"/v1/spend", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+sandbox.DemoKey)
	req.Header.Set("Idempotency-Key", idem)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		return nil, fmt.Errorf("status %d: %v", res.StatusCode, err)
	}
	var s struct{ ID, Status string }
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &received{idem: idem, body: b, id: s.ID, status: s.Status}, nil
}

// TestCrashDurability kill -9s the real binary under load, restarts it on the same file and
// checks that every decision a client received is there, byte for byte, and the invariants hold.
func TestCrashDurability(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crash.db")
	addr := e2e.FreeAddr(t)
	p, url := startSandbox(t, db, addr)

	var mu sync.Mutex
	var got []*received
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := post(url, fmt.Sprintf("crash-%d-%d", w, i), 100+rand.IntN(2_000))
				if err != nil {
					continue // the server is dying or dead: this answer never reached a client
				}
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			}
		}(w)
	}
	e2e.WaitFor(t, 120*time.Second, "decisions under load", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 150 })
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGKILL))
	<-p.Exited()
	close(stop)
	wg.Wait()
	mu.Lock()
	decisions := append([]*received(nil), got...)
	mu.Unlock()
	t.Logf("%d decisions received before kill -9", len(decisions))

	_, url = startSandbox(t, db, addr)
	approved := 0
	for _, r := range decisions {
		if r.status == "approved" {
			approved++
		}
		// Each received decision is durable: its replay returns the same bytes.
		again, err := post(url, r.idem, mustAmount(t, r.body))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(r.body, again.body), "decision %s changed after the crash", r.id)
	}
	assert.Positive(t, approved)
	out, err := exec.Command(e2e.Build(t, "dino-sandbox"), "check", "--db", db).CombinedOutput()
	assert.NoError(t, err, string(out))
	assert.Contains(t, string(out), "ledger invariants hold")
	out, err = exec.Command(e2e.Build(t, "dino-sandbox"), "ledger", "--json", "--limit", "10000", "--db", db).Output()
	require.NoError(t, err)
	var entries []struct {
		SpendRequestID string `json:"spend_request_id"`
		Kind           string `json:"kind"`
	}
	require.NoError(t, json.Unmarshal(out, &entries))
	inLedger := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Kind, "spend_") {
			inLedger[e.SpendRequestID] = true
		}
	}
	for _, r := range decisions {
		assert.True(t, inLedger[r.id], "decision %s is missing from the ledger", r.id)
	}
}

func mustAmount(t *testing.T, body []byte) int {
	var s struct {
		AmountCents int `json:"amount_cents"`
	}
	require.NoError(t, json.Unmarshal(body, &s))
	return s.AmountCents
}
