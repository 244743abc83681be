// Package e2e holds helpers for end-to-end tests: building the real binaries and speaking
// JSON-RPC to a child process over its stdin and stdout pipes.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// moduleRoot finds the directory holding go.mod, from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles ./cmd/<name> once per test process (with -race when the tests run with it)
// and returns the binary's path.
func Build(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "dino-e2e-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, name)
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

// Proc is a running binary with its stdout read line by line as JSON-RPC.
type Proc struct {
	Cmd    *exec.Cmd
	stdin  io.WriteCloser
	Stderr *SafeBuffer
	// Stdout has every byte the process wrote to stdout.
	Stdout *SafeBuffer

	mu        sync.Mutex
	responses map[string]json.RawMessage
	others    []json.RawMessage
	cond      *sync.Cond
	done      chan struct{}
	badLines  []string

	exited   chan struct{}
	exitCode int
	waitErr  error
}

// SafeBuffer is a bytes.Buffer safe for one writer and many readers.
type SafeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SafeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SafeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs bin with args and env (added to a minimal environment).
func Start(t testing.TB, bin string, args []string, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, stdin: stdin, Stderr: &SafeBuffer{}, Stdout: &SafeBuffer{}, responses: map[string]json.RawMessage{}, done: make(chan struct{}), exited: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	cmd.Stderr = p.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(io.TeeReader(stdout, p.Stdout))
	go func() {
		<-p.done // stdout must be drained before Wait closes the pipe
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.exitCode = ee.ExitCode()
		} else if err != nil {
			p.waitErr = err
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			JSON   string          `json:"jsonrpc"`
		}
		p.mu.Lock()
		if err := json.Unmarshal(line, &msg); err != nil || msg.JSON != "2.0" {
			p.badLines = append(p.badLines, string(line))
		} else if len(msg.ID) > 0 && msg.Method == "" {
			p.responses[string(msg.ID)] = line
		} else {
			p.others = append(p.others, line)
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
	p.mu.Lock()
	close(p.done)
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Send writes one JSON-RPC message.
func (p *Proc) Send(t testing.TB, msg string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, msg+"\n"); err != nil {
		t.Fatalf("write to stdin: %v", err)
	}
}

// Request sends a request with the given id, method and params, without waiting.
func (p *Proc) Request(t testing.TB, id int, method string, params any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		t.Fatal(err)
	}
	p.Send(t, string(b))
}

// Await waits for the response with this id.
func (p *Proc) Await(t testing.TB, id int, timeout time.Duration) json.RawMessage {
	t.Helper()
	key := fmt.Sprint(id)
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if r, ok := p.responses[key]; ok {
			return r
		}
		select {
		case <-p.done:
			t.Fatalf("stdout closed before response %d; stderr:\n%s", id, p.Stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no response %d within %v; stderr:\n%s", id, timeout, p.Stderr.String())
		}
		p.cond.Wait()
	}
}

// Call sends a request and waits for its response.
func (p *Proc) Call(t testing.TB, id int, method string, params any) json.RawMessage {
	t.Helper()
	p.Request(t, id, method, params)
	return p.Await(t, id, 60*time.Second)
}

// Initialize performs the MCP handshake.
func (p *Proc) Initialize(t testing.TB, id int, capabilities map[string]any) json.RawMessage {
	t.Helper()
	if capabilities == nil {
		capabilities = map[string]any{}
	}
	r := p.Call(t, id, "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": capabilities, "clientInfo": map[string]any{"name": "e2e", "version": "1"}})
	p.Send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return r
}

// Others returns the messages that were not responses (notifications, server requests).
func (p *Proc) Others() []json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]json.RawMessage(nil), p.others...)
}

// BadLines returns stdout lines that were not JSON-RPC messages.
func (p *Proc) BadLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.badLines...)
}

// CloseStdin ends the process's input (EOF).
func (p *Proc) CloseStdin() { _ = p.stdin.Close() }

// Wait waits for the process to exit and returns its exit code.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		if p.waitErr != nil {
			t.Fatalf("wait: %v", p.waitErr)
		}
		return p.exitCode
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		t.Fatalf("process did not exit within %v; stderr:\n%s", timeout, p.Stderr.String())
		return -1
	}
}

// ToolResult is the part of a tools/call response the tests read.
type ToolResult struct {
	Result struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent map[string]any `json:"structuredContent"`
		IsError           bool           `json:"isError"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// DecodeToolResult decodes a tools/call response.
func DecodeToolResult(t testing.TB, raw json.RawMessage) ToolResult {
	t.Helper()
	var r ToolResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if r.Error != nil {
		t.Fatalf("JSON-RPC error where a tool result was expected: %s", raw)
	}
	return r
}

// Text is the first text content of a tool result.
func (r ToolResult) Text() string {
	if len(r.Result.Content) == 0 {
		return ""
	}
	return r.Result.Content[0].Text
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// WaitFor polls cond every 20 ms until it is true or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
