// Command dino-sandbox runs the Dino sandbox — a stateful local /v1 agent-spend API with an
// operators' dashboard and admin API — and administers its database from the command line.
package main

import (
	"os"

	"github.com/dinoid/dino-mcp/dinoapi/sandbox/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
