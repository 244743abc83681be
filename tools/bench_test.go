package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dinoid/dino-mcp/dinoapi"
	"github.com/dinoid/dino-mcp/tools"
)

func benchUpstream() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, approvedBody)
	}))
}

// BenchmarkRequestSpendDirect is one dinoapi.CreateSpend against a loopback upstream: the floor.
func BenchmarkRequestSpendDirect(b *testing.B) {
	up := benchUpstream()
	defer up.Close()
	c, err := dinoapi.NewClient(dinoapi.Config{APIKey: goldenKey, BaseURL: up.URL})
	if err != nil {
		b.Fatal(err)
	}
	req := dinoapi.SpendRequest{AmountCents: 12000, Currency: "usd", MerchantName: "AWS", Reason: "GPU runtime for evaluation job"}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.CreateSpend(ctx, req, fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestSpendMCP is the same spend as a JSON-RPC tools/call through the MCP server:
// argument validation, the client call and result rendering.
func BenchmarkRequestSpendMCP(b *testing.B) {
	up := benchUpstream()
	defer up.Close()
	c, err := dinoapi.NewClient(dinoapi.Config{APIKey: goldenKey, BaseURL: up.URL})
	if err != nil {
		b.Fatal(err)
	}
	s := tools.NewServer(tools.Options{Client: tools.StaticClient(c)})
	msg := json.RawMessage(call(tools.RequestSpend, awsArgs))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp := s.HandleMessage(ctx, msg)
		if resp == nil {
			b.Fatal("no response")
		}
	}
}
