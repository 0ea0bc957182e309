#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md on this machine: the load runs of
# `billing bench` on SQLite and PostgreSQL, a separate `billing serve` for
# its peak memory, the events-table size comparison, the Go benchmarks, and
# `billing serve` side by side with Stripe's sync engine on one PostgreSQL
# cluster (side_by_side below).
#
#   ./bench/run.sh        everything (~30 min; run it on an otherwise idle machine)
#   ./bench/run.sh own    all but the side by side (~20 min)
#   ./bench/run.sh peer   only the side by side (~10 min; ROUNDS, N, WARMUP, PEER_SRC)
#   ./bench/run.sh writers          only the sweep of DATABASE_WRITERS (~3 min)
#   ./bench/run.sh compare REV      this build against REV's, interleaved (~4 min)
#
# Needs PostgreSQL at $PG (default the local test server) for `own`; `peer`
# needs node >= 20, npm and PostgreSQL 15's binaries (the peer harness's
# README lists them) and starts its own cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
out=${OUT:-bench-results}
mkdir -p "$out"
go build -o "$out/billing" ./cmd/billing
bin=$(realpath "$out/billing")
work=$(mktemp -d)
# The peer's PostgreSQL runs as the postgres user, with its data under here.
chmod 755 "$work"
cat >"$work/plans.json" <<'JSON'
{"plans":[{"id":"pro","name":"Pro","stripe_price_ids":["price_BenchPro","price_1PgafmB7WZ01zgkW6dKueIc5"],"monthly_credits":1000}]}
JSON
api_key=bench-api-key-0123456789

pids=() # background processes this script started itself
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# The peer, stripe-mock and the peer's PostgreSQL, by their pid files.
	[ -x "$work/peer/stop.sh" ] && "$work/peer/stop.sh" >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop() { # pid: stops a process started here and forgets it
	local p keep=()
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}

# start_serve LOG VAR=VALUE...: starts `billing serve` on a port of its own
# with the plans above and these settings; sets serve_pid and serve_url.
start_serve() {
	local log=$1
	shift
	(cd "$work" && exec env BILLING_ADDR=127.0.0.1:0 BILLING_PLANS="$work/plans.json" BILLING_API_KEY=$api_key "$@" \
		"$bin" serve --log-format json) >"$log" 2>&1 &
	serve_pid=$!
	pids+=("$serve_pid")
	serve_url=""
	for _ in $(seq 50); do
		serve_url=$(grep -o 'Listening on http://[^ ]*' "$log" | cut -d' ' -f3 || true)
		[ -n "$serve_url" ] && break
		sleep 0.2
	done
	kill -0 "$serve_pid" && [ -n "$serve_url" ] || { echo "billing serve did not start:"; cat "$log"; exit 1; }
}

run() { # name, bench flags...
	local name=$1
	shift
	echo "== billing bench $*" | tee "$out/$name.txt"
	(cd "$work" && "$bin" bench --workspaces 200 --runs 3 "$@") | tee -a "$out/$name.txt" | grep -E "median|RSS|decode only|store only" || true
}

service_runs() {
	run sqlite --concurrency 1,16,64
	# The service's two parts alone, against the same ceiling: decoding with no
	# database, and storing events with no decoding.
	run stages-sqlite --concurrency 16 --stages

	# A separate service, as deployed, for its own peak RSS.
	start_serve "$work/serve.log" STRIPE_WEBHOOK_SECRET=whsec_benchserve
	run serve --concurrency 1,16,64 --url "$serve_url" \
		--secret whsec_benchserve --api-key $api_key --pid "$serve_pid"
	stop "$serve_pid"

	run postgres --concurrency 1,16,64 --database "$PG"
	run stages-postgres --concurrency 16 --stages --database "$PG"
	writers_sweep
	echo "== go test -bench" | tee "$out/go-bench.txt"
	go test -run '^$' -bench . -count 5 -benchtime 2000x . ./webhook/ | tee -a "$out/go-bench.txt" | grep -E "^Bench"
	BILLING_TEST_DB=postgres go test -run '^$' -bench Process -count 5 -benchtime 1000x . | tee "$out/go-bench-postgres.txt" | grep -E "^Bench"
}

# quick BIN LABEL ROUNDS_FILE FLAGS...: one short `billing bench` run per
# concurrency (100 workspaces, 2,400 deliveries), appending "label c events/s
# p99 events-per-commit round-trips-per-delivery" lines to ROUNDS_FILE.
quick() {
	local b=$1 label=$2 file=$3
	shift 3
	(cd "$work" && "$b" bench --workspaces 100 --runs 1 --concurrency 16,64 "$@") | awk -v l="$label" '
		/^concurrency/ { c = $2; sub(",", "", c) }
		/^  billing / { for (i = 1; i <= NF; i++) { if ($(i+1) == "events/s") ev = $i; if ($i == "p99") p99 = $(i+1) } }
		/^  database / { per = $8; rt = "-"; for (i = 1; i <= NF; i++) if ($(i+1) == "per" && $(i+2) == "delivery,") rt = $i
			sub(",", "", per); print l, c, ev, p99, per, rt }' >>"$file"
}

# medians FILE: the median of each column by label and concurrency.
medians() {
	sort -k1,1 -k2,2n "$1" | awk '
		function med(s,   n, a, t) { n = split(s, a, " "); asort(a); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		{ k = $1 " " $2; if (!(k in ev)) order[++n] = k; ev[k] = ev[k] " " $3; p[k] = p[k] " " $4 + 0; b[k] = b[k] " " $5; r[k] = r[k] " " $6 }
		END { print "| run | C | events/s | p99 ms | events per commit | round trips per delivery |"; print "|---|---|---|---|---|---|"
			for (i = 1; i <= n; i++) { k = order[i]; split(k, f, " ")
				printf "| %s | %s | %d | %.1f | %.1f | %s |\n", f[1], f[2], med(ev[k]), med(p[k]), med(b[k]), r[k] ~ /-/ ? "-" : sprintf("%.2f", med(r[k])) } }'
}

# Group commits at once on PostgreSQL (DATABASE_WRITERS): fewer writers
# fill larger batches; rounds interleaved.
writers_sweep() {
	local f="$out/writers.txt"
	: >"$f"
	for _ in 1 2 3; do
		for w in 1 2 4 8; do quick "$bin" "writers=$w" "$f" --writers "$w" --database "$PG"; done
	done
	echo "== writers (medians of 3 interleaved rounds)" | tee "$out/writers.md"
	medians "$f" | tee -a "$out/writers.md"
}

# compare REV: this build against the one at REV, on SQLite and
# PostgreSQL, rounds interleaved.
compare() {
	local rev=$1 src="$work/old" f="$out/compare.txt"
	git worktree add -q --detach "$src" "$rev"
	(cd "$src" && go build -o "$work/billing-old" ./cmd/billing)
	git worktree remove --force "$src"
	: >"$f"
	for _ in 1 2 3; do
		quick "$work/billing-old" "sqlite-$rev" "$f"
		quick "$bin" "sqlite-new" "$f"
		quick "$work/billing-old" "postgres-$rev" "$f" --database "$PG"
		quick "$bin" "postgres-new" "$f" --database "$PG"
	done
	echo "== $rev against this build (medians of 3 interleaved rounds)" | tee "$out/compare.md"
	medians "$f" | tee -a "$out/compare.md"
}

# Large tables last: filling 1 M rows leaves the disk busy for a while.
large_tables() {
	run sqlite-10k --concurrency 16 --history 10000
	run sqlite-1m --concurrency 16 --history 1000000
	run postgres-10k --concurrency 16 --history 10000 --database "$PG"
	run postgres-1m --concurrency 16 --history 1000000 --database "$PG"
}

# --- Side by side with Stripe's sync engine (issue 15) ---------------------
# The peer harness (@supabase/stripe-sync-engine behind a minimal webhook
# server, see its README) and `billing serve` write to one PostgreSQL 15
# cluster, the peer's, and take the same load from the peer's generator
# (bin/load: N signed events of five types, every event new). A warm-up of
# WARMUP events each, then ROUNDS rounds of, at C=16 then C=64, the peer then
# us, every run from empty tables after a CHECKPOINT. Then all again with
# both connecting to PostgreSQL through toxiproxy, whose latency toxic on
# the downstream delays every chunk PostgreSQL sends by 1 ms: a statement
# and its answer (a round trip) costs 1 ms more, as with PostgreSQL on a
# host 0.5 ms away each way (the toxic counts whole milliseconds, so 0.5 ms
# each way is not available; 1 ms each way would be 2 ms a round trip).
PEER_SRC=${PEER_SRC:-../shared/peers/sync-engine}
ROUNDS=${ROUNDS:-3}
N=${N:-5000}
WARMUP=${WARMUP:-1000}
PROXY_PORT=${PROXY_PORT:-55433}
TOXIPROXY_PORT=${TOXIPROXY_PORT:-8474}
# What `billing serve` may expose in /metrics of its work on the database: a
# counter of round trips and a histogram of events per group commit. Columns
# stay "-" while it does not.
trips_metric=billing_db_round_trips_total
batch_metric=billing_batch_events
us_db=billing_bench

peer_var() { (cd "$work/peer" && . ./env.sh >/dev/null && printf '%s' "${!1}"); }
psql_pg() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ticks() { # pids...: their CPU (user + system) in clock ticks
	local p
	for p in "$@"; do
		awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ t += $1 } END { print t + 0 }'
}

# busy_ticks: the CPU the whole machine spent (user, nice, system, irq,
# softirq), for what other processes took during a run.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# child_ticks: the CPU of this shell's children that have ended (the load
# generator's whole run included), in clock ticks. `times` must run in this
# shell, not in a subshell, whose children are others.
child_ticks() {
	times >"$work/times"
	awk -v hz="$(getconf CLK_TCK)" 'NR == 2 { split($0, t, /[ ms]+/); printf "%.0f\n", hz * (60 * t[1] + t[2] + 60 * t[3] + t[4]) }' "$work/times"
}

# pg_ticks: the CPU of the whole cluster: the postmaster, its children alive
# now, and those it has reaped (cutime, cstime), so that a backend which
# came and went during a run counts too.
pg_ticks() {
	local pm
	pm=$(head -n 1 "$pg_data/postmaster.pid")
	{
		awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat"
		ticks $(ps -o pid= --ppid "$pm" || true)
	} | awk '{ t += $1 } END { print t + 0 }'
}

# empty DB SCHEMA FILTER: truncates the tables of SCHEMA that FILTER (SQL on
# pg_tables) selects, with their triggers off: our credit ledger refuses a
# TRUNCATE (it is append-only), rightly outside a benchmark.
empty() {
	psql_pg -d "$1" -c "SET session_replication_role = replica" -c "DO \$\$ BEGIN EXECUTE (SELECT 'TRUNCATE ' || string_agg(format('%I.%I', schemaname, tablename), ', ')
		FROM pg_tables WHERE schemaname = '$2' AND $3); END \$\$" >/dev/null
}

# Each side's data tables, as the peer's bench.sh empties its own: all but
# the migrations' bookkeeping (and the peer's account row; our settings).
empty_side() {
	case $1 in
	peer) empty "$peer_db" stripe "left(tablename, 1) <> '_' AND tablename NOT IN ('migrations', 'accounts')" ;;
	billing) empty "$us_db" public "tablename NOT IN ('goose_db_version', 'settings')" ;;
	esac
}

# round_trip PORT: the mean time of a `SELECT 1` on one connection, in ms.
round_trip() {
	echo "SELECT 1" >"$work/select1.sql"
	"$pg_bin/pgbench" -n -h 127.0.0.1 -p "$1" -U postgres -c 1 -t 500 -f "$work/select1.sql" postgres 2>/dev/null |
		awk '/latency average/ { print $4 }'
}

start_peer() { # PostgreSQL port: the cluster's or the proxy's
	(cd "$work/peer" && PEER_DATABASE_URL="postgres://postgres@127.0.0.1:$1/$peer_db" ./run-peer.sh) >>"$res/peer.log" 2>&1 ||
		{ tail -n 20 "$res/peer.log"; exit 1; }
	peer_pid=$(cat "$PEER_RUN_DIR/peer.pid")
	mock_pid=$(cat "$PEER_RUN_DIR/stripe-mock.pid")
}

stop_peer() { # part name: keeps the peer's own log, which its next start overwrites
	(cd "$work/peer" && ./stop.sh peer) >>"$res/peer.log" 2>&1
	cp "$PEER_RUN_DIR/peer.log" "$res/peer-$1.log"
}

metrics() { curl -fsS "$serve_url_base/metrics" >"$1"; }

# metrics_delta BEFORE AFTER N: round trips per event, events per group
# commit, and the service's outcomes ("processed=4000 ignored=1000"),
# between two scrapes of /metrics.
metrics_delta() {
	awk -v trips="$trips_metric" -v batch="$batch_metric" -v n="$3" '
		function series(name) { return $1 == name || index($1, name "{") == 1 }
		{ sign = FILENAME == ARGV[1] ? -1 : 1 }
		series(trips) { t += sign * $2; ft = 1 }
		series(batch "_sum") { bs += sign * $2; fb = 1 }
		series(batch "_count") { bc += sign * $2 }
		series("billing_webhook_events_total") && match($1, /outcome="[^"]*"/) {
			o = substr($1, RSTART + 9, RLENGTH - 10)
			out[o] += sign * $2
		}
		END {
			printf "%s\t%s\t", (ft ? sprintf("%.2f", t / n) : "-"), (fb && bc > 0 ? sprintf("%.1f", bs / bc) : "-")
			s = ""
			for (o in out) if (out[o] > 0) s = s (s == "" ? "" : " ") o "=" out[o]
			print s == "" ? "-" : s
		}' "$1" "$2"
}

# one_run PART ROUND C SIDE EVENTS: one load run from empty tables, with its
# line in runs.tsv.
one_run() {
	local part=$1 round=$2 c=$3 side=$4 n=$5
	local f="$res/$part-$side-c$c-r$round" url svc s0 g0 m0 x0 b0 l0 s1 g1 m1 x1 b1 l1 db="-"
	empty_side "$side"
	psql_pg -d postgres -c CHECKPOINT
	if [ "$side" = peer ]; then url=$peer_url svc=$peer_pid; else url=$serve_url svc=$serve_pid; fi
	[ "$side" = peer ] || metrics "$f.metrics-before"
	s0=$(ticks "$svc") g0=$(pg_ticks) m0=$(ticks "$mock_pid") x0=$(ticks ${proxy_pid:-}) b0=$(busy_ticks)
	child_ticks >"$work/l0"
	"$work/peer/bin/load" -url "$url" -secret "$secret" -n "$n" -c "$c" -json >"$f.txt" 2>&1 || true
	child_ticks >"$work/l1"
	s1=$(ticks "$svc") g1=$(pg_ticks) m1=$(ticks "$mock_pid") x1=$(ticks ${proxy_pid:-}) b1=$(busy_ticks)
	l0=$(cat "$work/l0") l1=$(cat "$work/l1")
	if [ "$side" = billing ]; then
		metrics "$f.metrics-after"
		db=$(metrics_delta "$f.metrics-before" "$f.metrics-after" "$n")
		psql_pg -d "$us_db" -c "SELECT type, status, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2" >>"$f.txt"
	fi
	grep -q RESULT "$f.txt" || { echo "the load generator gave no result:"; cat "$f.txt"; exit 1; }
	grep -o 'RESULT .*' "$f.txt" | cut -c8- |
		awk -v part="$part" -v round="$round" -v c="$c" -v side="$side" -v n="$n" -v hz="$(getconf CLK_TCK)" \
			-v cpu="$((s1 - s0)) $((g1 - g0)) $((m1 - m0)) $((x1 - x0)) $((b1 - b0)) $((l1 - l0))" -v db="$db" '
		function field(k) { return match($0, "\"" k "\":[0-9.]+") ? substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) : "-" }
		function ms(t) { return sprintf("%.3f", 1000 * t / hz / n) }
		{
			st = match($0, /"status":\{[^}]*\}/) ? substr($0, RSTART + 10, RLENGTH - 11) : "none"
			gsub(/"/, "", st); gsub(/:/, "=", st); gsub(/,/, " ", st)
			split(cpu, t, " ")
			load = field("loadgen_cpu_s") * hz
			# Whatever the machine did besides the processes measured and the
			# whole load generator (its events are built before its clock).
			other = t[5] - t[1] - t[2] - t[3] - t[4] - t[6]
			if (db == "-") db = "-\t-\t-"
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", part, round, c, side, field("throughput"),
				field("p50_ms"), field("p99_ms"), st, ms(t[1]), ms(t[2]), ms(load), ms(t[3]), ms(t[4]), ms(other > 0 ? other : 0), db
		}' | tee -a "$res/runs.tsv" | cut -f1-8
}

# part NAME PORT: both sides on PostgreSQL at PORT, warm-up and rounds.
part() {
	local name=$1 port=$2 r c side
	echo "== side by side, $name: PostgreSQL at 127.0.0.1:$port"
	start_peer "$port"
	start_serve "$res/serve-$name.log" DATABASE_URL="postgres://postgres@127.0.0.1:$port/$us_db" STRIPE_WEBHOOK_SECRET="$secret"
	serve_url_base=${serve_url%/api/*}
	for side in peer billing; do one_run "$name" warm-up 16 "$side" "$WARMUP"; done
	for r in $(seq "$ROUNDS"); do
		for c in 16 64; do
			for side in peer billing; do one_run "$name" "$r" "$c" "$side" "$N"; done
		done
	done
	stop "$serve_pid"
	stop_peer "$name"
}

side_by_side() {
	[ -f "$PEER_SRC/setup.sh" ] || { echo "no peer harness at $PEER_SRC: set PEER_SRC"; exit 1; }
	res=$out/side-by-side
	rm -rf "$res"
	mkdir -p "$res"
	# The harness may be read-only (CI); its state goes under $work too.
	cp -r "$PEER_SRC" "$work/peer"
	chmod -R u+w "$work/peer"
	export PEER_VARIANT=supabase PEER_RUN_DIR="$work/peer-run" STRIPE_MOCK_BIN="$work/bin/stripe-mock"
	pg_port=$(peer_var PG_PORT)
	local p
	for p in "$pg_port" "$(peer_var PEER_PORT)" "$(peer_var STRIPE_API_PORT)" "$PROXY_PORT" "$TOXIPROXY_PORT"; do
		if port_busy "$p"; then echo "port $p on 127.0.0.1 is taken: stop what uses it, or move it (see the peer's env.sh, PROXY_PORT, TOXIPROXY_PORT)"; exit 1; fi
	done
	echo "== side by side: setting up the sync-engine peer ($PEER_VARIANT) and toxiproxy"
	(cd "$work/peer" && ./setup.sh) >"$res/setup.log" 2>&1 || { tail -n 30 "$res/setup.log"; exit 1; }
	GOBIN="$work/bin" go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0
	pg_bin=$(peer_var PG_BINDIR) pg_data=$(peer_var PGDATA) peer_db=$(peer_var PG_DB)
	secret=$(peer_var STRIPE_WEBHOOK_SECRET) peer_url=$(peer_var PEER_URL)
	psql_pg -d postgres -c "CREATE DATABASE $us_db"
	(cd "$work" && DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/$us_db" BILLING_PLANS="$work/plans.json" "$bin" migrate) >"$res/migrate.log" 2>&1 ||
		{ cat "$res/migrate.log"; exit 1; }
	printf "part\tround\tc\tside\tevents_per_s\tp50_ms\tp99_ms\tstatus\tservice_cpu_ms\tpostgres_cpu_ms\tloadgen_cpu_ms\tstripe_mock_cpu_ms\ttoxiproxy_cpu_ms\tother_cpu_ms\tround_trips_per_event\tevents_per_commit\toutcomes\n" >"$res/runs.tsv"

	part loopback "$pg_port"

	"$work/bin/server" -host 127.0.0.1 -port "$TOXIPROXY_PORT" >"$res/toxiproxy.log" 2>&1 &
	proxy_pid=$!
	pids+=("$proxy_pid")
	local api=http://127.0.0.1:$TOXIPROXY_PORT
	for _ in $(seq 50); do curl -fsS -o /dev/null "$api/version" 2>/dev/null && break; sleep 0.2; done
	curl -fsS -o /dev/null -X POST "$api/proxies" \
		-d "{\"name\":\"postgres\",\"listen\":\"127.0.0.1:$PROXY_PORT\",\"upstream\":\"127.0.0.1:$pg_port\",\"enabled\":true}"
	curl -fsS -o /dev/null -X POST "$api/proxies/postgres/toxics" \
		-d '{"name":"latency","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":1,"jitter":0}}'
	rtt=$(round_trip "$pg_port")/$(round_trip "$PROXY_PORT")
	part latency "$PROXY_PORT"
	stop "$proxy_pid"
	proxy_pid=

	{
		echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), shared by everything below."
		echo "billing $(git describe --always --dirty); peer @supabase/stripe-sync-engine $(cd "$work/peer" && node -p "require('./package.json').dependencies['@supabase/stripe-sync-engine']") on node $(node --version);" \
			"PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (the peer's cluster: stock settings but shared_buffers=256MB, max_connections=200); toxiproxy v2.5.0."
		echo "Both sides with their default settings (the peer: pool of $(peer_var MAX_POSTGRES_CONNECTIONS), LOG_LEVEL=$(peer_var LOG_LEVEL); billing: serve's defaults, JSON logs to a file)," \
			"the peer's load generator (bin/load, its default mix of five event types, every event new, signed at send time) for both; billing's plans map the generator's price to a plan of 1000 credits a month."
		echo "A \`SELECT 1\` on one connection (pgbench, mean of 500): ${rtt%/*} ms direct, ${rtt#*/} ms through toxiproxy with the latency toxic."
		summarize "$res/runs.tsv"
	} >"$out/side-by-side.md"
	cat "$out/side-by-side.md"
	if awk -F'\t' 'NR > 1 && $8 !~ /^(2[0-9][0-9]=[0-9]+ ?)+$/ { bad = 1 } END { exit !bad }' "$res/runs.tsv"; then
		echo "some runs had answers other than 2xx: see $res/runs.tsv"
		exit 1
	fi
}

# summarize RUNS.TSV: the Markdown tables of side-by-side.md, medians of
# the rounds (the ratio of events/s is taken per round, then its median).
summarize() {
	awk -F'\t' -v rounds="$ROUNDS" -v n="$N" -v warmup="$WARMUP" '
		function med(s,   a, k, i, j, t) {
			k = split(s, a, " ")
			if (k == 0) return "-"
			for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		function add(key, v) { if (v != "-" && v != "") vals[key] = vals[key] " " v }
		function m(key, f,   v) { v = med(vals[key]); return v == "-" ? v : sprintf(f, v) }
		NR == 1 || $2 == "warm-up" { next }
		{
			k = $1 SUBSEP $3 SUBSEP $4
			for (i = 5; i <= 16; i++) if (i != 8) add(k SUBSEP i, $i)
			add(k SUBSEP "sum", $9 + $10)
			eps[$1, $3, $4, $2] = $5
			if (!((k, $17) in seen)) { seen[k, $17] = 1; outcomes[k] = outcomes[k] (outcomes[k] == "" ? "" : " / ") $17 }
			if ($8 !~ /^(2[0-9][0-9]=[0-9]+ ?)+$/) bad = bad "\n- " $1 ", round " $2 ", C=" $3 ", " $4 ": " $8
			runs++
		}
		END {
			split("loopback latency", parts, " "); split("16 64", cs, " ")
			label["loopback"] = "loopback"; label["latency"] = "+1 ms a round trip"
			printf "\nEach cell: median of %d round%s of %d events (after a warm-up of %d each); in every round, at C=16 then C=64, the sync engine then billing, each from empty tables after a CHECKPOINT. Ratio: billing / sync engine events/s in the same round, median over the rounds.\n\n", rounds, (rounds == 1 ? "" : "s"), n, warmup
			print "| PostgreSQL | C | sync engine events/s | billing events/s | billing / sync engine | sync engine p50 / p99 ms | billing p50 / p99 ms |"
			print "|---|---|---|---|---|---|---|"
			for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
				p = parts[i]; c = cs[j]; r = ""
				for (key in eps) {
					split(key, f, SUBSEP)
					if (f[1] == p && f[2] == c && f[3] == "billing" && (p, c, "peer", f[4]) in eps && eps[p, c, "peer", f[4]] > 0)
						r = r " " eps[key] / eps[p, c, "peer", f[4]]
				}
				kp = p SUBSEP c SUBSEP "peer"; kb = p SUBSEP c SUBSEP "billing"
				rr = med(r)
				printf "| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n", label[p], c, m(kp SUBSEP 5, "%.0f"), m(kb SUBSEP 5, "%.0f"),
					rr == "-" ? rr : sprintf("%.2f×", rr), m(kp SUBSEP 6, "%.1f"), m(kp SUBSEP 7, "%.1f"), m(kb SUBSEP 6, "%.1f"), m(kb SUBSEP 7, "%.1f")
			}
			print "\nCPU per event (ms, user + system, from /proc over each run; PostgreSQL: every process of the cluster, backends of both sides included; other processes: what the rest of the machine used meanwhile, near 0 when it is idle):\n"
			print "| PostgreSQL | C | side | service | PostgreSQL | service + PostgreSQL | load generator | stripe-mock | toxiproxy | other processes |"
			print "|---|---|---|---|---|---|---|---|---|---|"
			for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) for (s = 1; s <= 2; s++) {
				p = parts[i]; c = cs[j]; side = s == 1 ? "peer" : "billing"; k = p SUBSEP c SUBSEP side
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label[p], c, side == "peer" ? "sync engine (node)" : "billing",
					m(k SUBSEP 9, "%.2f"), m(k SUBSEP 10, "%.2f"), m(k SUBSEP "sum", "%.2f"), m(k SUBSEP 11, "%.2f"), m(k SUBSEP 12, "%.2f"),
					(p == "latency" ? m(k SUBSEP 13, "%.2f") : "-"), m(k SUBSEP 14, "%.2f")
			}
			print "\nbilling on the database (from its /metrics; \"-\": not exposed by this build):\n"
			print "| PostgreSQL | C | round trips per event | events per group commit | outcomes per run |"
			print "|---|---|---|---|---|"
			for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
				p = parts[i]; c = cs[j]; k = p SUBSEP c SUBSEP "billing"
				printf "| %s | %s | %s | %s | %s |\n", label[p], c, m(k SUBSEP 15, "%.2f"), m(k SUBSEP 16, "%.1f"), outcomes[k]
			}
			print ""
			if (bad == "") printf "HTTP status: every answer 2xx in all %d runs.\n", runs
			else print "HTTP status: runs with answers other than 2xx:" bad
		}' "$1"
}

case ${1:-all} in
all)
	service_runs
	side_by_side
	large_tables
	;;
own)
	service_runs
	large_tables
	;;
peer) side_by_side ;;
writers) writers_sweep ;;
compare) compare "${2:?compare needs a revision}" ;;
*)
	echo "usage: $0 [all|own|peer|writers|compare REV]" >&2
	exit 2
	;;
esac
