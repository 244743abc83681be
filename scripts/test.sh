#!/usr/bin/env bash
# The test command of the README: every test, with the race detector, no cache.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 20m ./...
