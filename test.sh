#!/usr/bin/env bash
# Runs the whole test suite: what README.md's second command and CI run.
# Needs only Go; uses the race detector where a C compiler is present.
set -euo pipefail
cd "$(dirname "$0")"

echo "== go vet"
go vet ./...

race=()
if command -v gcc >/dev/null 2>&1 && [ "$(go env CGO_ENABLED)" = "1" ]; then
	race=(-race)
fi
echo "== go test ${race[*]:-} ./..."
go test "${race[@]}" -count=1 -timeout 15m ./...
