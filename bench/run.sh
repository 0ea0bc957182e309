#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md on this machine: the load runs of
# `billing bench` on SQLite and PostgreSQL, a separate `billing serve` for
# its peak memory, the events-table size comparison, and the Go benchmarks.
# Needs PostgreSQL at $PG (default the local test server). Takes
# ~20 min; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
out=${OUT:-bench-results}
mkdir -p "$out"
go build -o "$out/billing" ./cmd/billing
bin=$(realpath "$out/billing")
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # name, bench flags...
	local name=$1
	shift
	echo "== billing bench $*" | tee "$out/$name.txt"
	(cd "$work" && "$bin" bench --workspaces 200 --runs 3 "$@") | tee -a "$out/$name.txt" | grep -E "median|RSS|decode only|store only" || true
}

run sqlite --concurrency 1,16,64
# The service's two parts alone, against the same ceiling: decoding with no
# database, and storing events with no decoding.
run stages-sqlite --concurrency 16 --stages

# A separate service, as deployed, for its own peak RSS.
cat >"$work/plans.json" <<'JSON'
{"plans":[{"id":"pro","name":"Pro","stripe_price_ids":["price_BenchPro"],"monthly_credits":1000}]}
JSON
pushd "$work" >/dev/null
STRIPE_WEBHOOK_SECRET=whsec_benchserve BILLING_API_KEY=bench-api-key-0123456789 \
	BILLING_ADDR=127.0.0.1:0 "$bin" serve --log-format json >serve.log 2>&1 &
pid=$! # the service itself, whose peak RSS --pid reads
popd >/dev/null
url=""
for _ in $(seq 50); do
	url=$(grep -o 'Listening on http://[^ ]*' "$work/serve.log" | cut -d' ' -f3 || true)
	[ -n "$url" ] && break
	sleep 0.2
done
kill -0 "$pid" && [ -n "$url" ] || { echo "billing serve did not start:"; cat "$work/serve.log"; exit 1; }
run serve --concurrency 1,16,64 --url "$url" \
	--secret whsec_benchserve --api-key bench-api-key-0123456789 --pid "$pid"
kill "$pid"
wait "$pid" || true

run postgres --concurrency 1,16,64 --database "$PG"
run stages-postgres --concurrency 16 --stages --database "$PG"
echo "== go test -bench" | tee "$out/go-bench.txt"
go test -run '^$' -bench . -count 5 -benchtime 2000x . ./webhook/ | tee -a "$out/go-bench.txt" | grep -E "^Bench"
BILLING_TEST_DB=postgres go test -run '^$' -bench Process -count 5 -benchtime 1000x . | tee "$out/go-bench-postgres.txt" | grep -E "^Bench"

# Large tables last: filling 1 M rows leaves the disk busy for a while.
run sqlite-10k --concurrency 16 --history 10000
run sqlite-1m --concurrency 16 --history 1000000
run postgres-10k --concurrency 16 --history 10000 --database "$PG"
run postgres-1m --concurrency 16 --history 1000000 --database "$PG"

