package tools

import (
	"github.com/mark3labs/mcp-go/server"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// ServerName is the name dino-mcp gives in its initialize reply.
const ServerName = "dino-mcp"

// Instructions tell the model, once per session, how spending works here.
const Instructions = "dino-mcp lets you spend money under an operator's governance. Before paying for anything, call request_spend " +
	"with the amount in integer cents. Only an approved result lets you spend. A needs_approval result is pending: give the operator its " +
	"approval_url, do not retry or split it, and check back with get_spend_status. A declined result is final for that request. " +
	"get_balance shows what is left of the budget."

// NewServer assembles an MCP server with the tools for opts. The same server value serves stdio,
// SSE and Streamable HTTP, so every transport has exactly the same tools and results.
func NewServer(opts Options, extra ...server.ServerOption) *server.MCPServer {
	base := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithInstructions(Instructions),
	}
	s := server.NewMCPServer(ServerName, dinoapi.Version, append(base, extra...)...)
	s.AddTools(New(opts)...)
	return s
}
