package transport

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestConfigValidate(t *testing.T) {
	tok := []string{"a-caller-token-long-enough"}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{CallerTokens: tok}, ""},
		{Config{KeyFromCaller: true, Addr: "0.0.0.0:8080"}, ""},
		{Config{InsecureNoAuth: true, Addr: "0.0.0.0:8080"}, ""},
		{Config{}, "no caller authentication"},
		{Config{Addr: "0.0.0.0:8080"}, "not loopback"},
		{Config{Addr: "nonsense", CallerTokens: tok}, "--addr"},
		{Config{Transport: "grpc", CallerTokens: tok}, "--transport"},
		{Config{Transport: SSE, Stateless: true, CallerTokens: tok}, "--stateless"},
		{Config{CallerTokens: []string{"short"}}, "at least 16"},
		{Config{KeyFromCaller: true, CallerTokens: tok}, "exclude each other"},
		{Config{CallerTokens: tok, AllowedOrigins: []string{"example.com"}}, "--allowed-origin"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			assert.NoError(t, err, "%+v", tc.cfg)
			continue
		}
		if assert.Error(t, err, "%+v", tc.cfg) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
	c := Config{CallerTokens: tok}
	assert.NoError(t, c.Validate())
	assert.Equal(t, DefaultAddr, c.Addr)
	assert.Equal(t, StreamableHTTP, c.Transport)
	assert.EqualValues(t, DefaultMaxBodyBytes, c.MaxBodyBytes)
	assert.Equal(t, DefaultMaxSessions, c.MaxSessions)
}

func TestOriginAllowed(t *testing.T) {
	s := &Server{cfg: Config{AllowedOrigins: []string{"https://app.example.com"}}}
	for origin, want := range map[string]bool{
		"":                          true,
		"http://localhost:6274":     true,
		"http://127.0.0.1":          true,
		"http://[::1]:3000":         true,
		"https://app.example.com":   true,
		"https://app.example.com/":  false,
		"https://evil.example":      false,
		"null":                      false,
		"http://localhost.evil.com": false,
		"file://":                   false,
	} {
		assert.Equal(t, want, s.originAllowed(origin), origin)
	}
	any := &Server{cfg: Config{AllowedOrigins: []string{"*"}}}
	assert.True(t, any.originAllowed("https://evil.example"))
}
