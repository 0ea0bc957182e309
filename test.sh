#!/usr/bin/env bash
# Runs the whole test suite: what README.md's second command and CI run.
# Needs only Go. The suite runs twice: on SQLite, then on PostgreSQL
# (TEST_DATABASE_URL, default the local server); where no PostgreSQL server
# answers, the second pass skips loudly, and in CI (CI=true) it fails.
# The race detector is used where a C compiler is present.
set -euo pipefail
cd "$(dirname "$0")"

if [ "${CI:-}" = "true" ]; then
	export BILLING_REQUIRE_POSTGRES=1
fi

race=()
if command -v gcc >/dev/null 2>&1 && [ "$(go env CGO_ENABLED)" = "1" ]; then
	race=(-race)
fi

# stripe-mock, pinned, for the tests of the Stripe API calls
# (stripeapi/stripetest starts one per test on a free loopback port).
echo "== go install github.com/stripe/stripe-mock@v0.203.0"
go install github.com/stripe/stripe-mock@v0.203.0

# Debian's Chromium, for the dashboard's test in a real headless browser
# (admin/browser_test.go; without it that test skips, and fails in CI).
if ! command -v chromium >/dev/null 2>&1; then
	echo "== apt-get install chromium"
	sudo=()
	if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get install -y -qq chromium >/dev/null ||
		{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq chromium >/dev/null; }
fi

echo "== go vet ./..."
go vet ./...

echo "== go test ${race[*]:-} ./...   (SQLite)"
go test "${race[@]}" -count=1 -timeout 20m ./...

echo "== go test ${race[*]:-} ./admin/ ./api/ ./cli/ ./email/ ./metrics/ ./store/   (PostgreSQL)"
# The TestCluster* tests always use PostgreSQL; the first pass ran them.
BILLING_TEST_DB=postgres go test "${race[@]}" -count=1 -timeout 20m -skip "^TestCluster" ./admin/ ./api/ ./cli/ ./email/ ./metrics/ ./store/

# Native fuzzing of the webhook input (signature header, body, data.object):
# a budget of executions per target beyond its seed corpus in testdata/fuzz/,
# which the passes above already ran as tests (a few seconds each here).
# Counts, not durations: with -fuzztime 5s, Go 1.26's fuzz coordinator can
# fail a clean run with "context deadline exceeded" at the deadline
# (golang/go#75804, fixed in Go 1.27). Go fuzzes one target per invocation.
# Minimizing is off; a failing input is written to testdata/fuzz/<target>/ as
# found: keep it there with the fix. Fuzz longer by hand, e.g. -fuzztime 10m.
for target in "FuzzVerify ./webhook/ 50000x" "FuzzDecode ./webhook/ 15000x" "FuzzWebhook ./api/ 2000x"; do
	read -r name pkg budget <<<"$target"
	echo "== go test -fuzz ^${name}\$ -fuzztime ${budget} ${pkg}"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" -fuzzminimizetime 0x "$pkg"
done
