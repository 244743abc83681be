package main_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// The load driver: the built dino-mcp binary serving over a loopback socket, driven by mcp-go
// clients, against a loopback upstream. Run it with
//
//	go test -run '^$' -bench 'HTTP' -benchtime 2000x ./cmd/dino-mcp
//
// Each iteration is one tools/call (get_balance) on one of S concurrent sessions.

func benchServer(b *testing.B, kind string) (*httpServer, func()) {
	up := httptest.NewServer(newFakeDino())
	h := startHTTP(b, kind, up.URL, []string{"--caller-token", callerToken, "--log-level", "warn", "--max-sessions", "5000"}, "DINO_SPEND_KEY="+e2eKey, "DINO_LOG_LEVEL=warn")
	return h, func() {
		_ = h.p.Cmd.Process.Signal(syscall.SIGTERM)
		<-h.p.Exited()
		up.Close()
	}
}

func benchmarkCalls(b *testing.B, kind string, sessions int) {
	h, done := benchServer(b, kind)
	defer done()
	clients := make([]*client.Client, sessions)
	for i := range clients {
		clients[i] = h.mcpClientTB(b, callerToken)
	}
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	work := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_balance"
	req.Params.Arguments = map[string]any{}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			for range work {
				t0 := time.Now()
				res, err := c.CallTool(context.Background(), req)
				d := time.Since(t0)
				if err != nil || res.IsError {
					b.Errorf("call failed: %v", err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

func BenchmarkHTTPToolCalls(b *testing.B) {
	for _, kind := range []string{"http", "sse"} {
		for _, s := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/sessions=%d", kind, s), func(b *testing.B) { benchmarkCalls(b, kind, s) })
		}
	}
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// BenchmarkHTTPIdleSessionRSS opens 500 idle sessions and reports the server's resident memory
// per session (the difference of VmRSS, so the process's baseline is excluded).
func BenchmarkHTTPIdleSessionRSS(b *testing.B) {
	for _, kind := range []string{"http", "sse"} {
		b.Run(kind, func(b *testing.B) {
			const n = 500
			for i := 0; i < b.N; i++ {
				h, done := benchServer(b, kind)
				warm := h.mcpClientTB(b, callerToken)
				_ = warm
				time.Sleep(200 * time.Millisecond)
				before := rssKiB(h.p.Cmd.Process.Pid)
				for j := 0; j < n; j++ {
					h.mcpClientTB(b, callerToken)
				}
				time.Sleep(500 * time.Millisecond)
				after := rssKiB(h.p.Cmd.Process.Pid)
				b.ReportMetric(float64(after-before)/n, "KiB/session")
				done()
			}
		})
	}
}
