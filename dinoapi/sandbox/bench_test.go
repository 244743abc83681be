package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// benchDecisions posts spend requests over loopback HTTP to a file-backed sandbox, from
// `parallel` goroutines, and reports decisions per second. Each decision is one IMMEDIATE
// transaction with synchronous=FULL, so this measures the durable path, fsync included.
func benchDecisions(b *testing.B, parallel int) {
	h := newHTTPFixture(b, acctOpts{budget: 1 << 50, maxTx: 1 << 40, wallet: 1 << 52, plan: 1 << 52}, 0, 0)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: parallel * 2}}
	var seq atomic.Int64
	body := spendBody(100)
	b.ResetTimer()
	b.SetParallelism((parallel + 1) / 2) // RunParallel runs GOMAXPROCS × this many goroutines; 2 cores here
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", h.ts.URL+"/v1/spend", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+h.plain)
			req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", seq.Add(1)))
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func BenchmarkDecisionsFileConcurrency1(b *testing.B)  { benchDecisions(b, 1) }
func BenchmarkDecisionsFileConcurrency32(b *testing.B) { benchDecisions(b, 32) }
