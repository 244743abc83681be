package main

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// newStoppableReader returns a reader that ends (io.EOF) either when r does or when stop is
// called. The stdio transport treats EOF as the end of the session and waits for the calls it
// has started, which is the graceful shutdown we want on SIGTERM.
func newStoppableReader(r io.Reader) (io.Reader, func()) {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err)
	}()
	var once sync.Once
	return pr, func() { once.Do(func() { pw.Close() }) }
}

// drainThenCancel cancels ctx after the drain timeout, or at once on a second signal.
func drainThenCancel(ctx context.Context, cancel context.CancelFunc, drain time.Duration, sigs <-chan os.Signal) {
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-t.C:
	case <-sigs:
	case <-ctx.Done():
	}
	cancel()
}

// logWriter adapts the transport's standard-library logger to zerolog on stderr.
type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
