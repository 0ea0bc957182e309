package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/bench"
	"github.com/acme/billing/store"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

const benchPrice = "price_BenchPro"

func benchCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench")
	url := fs.String("url", "", "webhook URL of a running service (default: start one in this process)")
	secret := fs.String("secret", "", "with --url: its webhook secret")
	apiKey := fs.String("api-key", "", "with --url: its API key, to check the final state")
	price := fs.String("price", benchPrice, "with --url: a price of its plans file that grants 1000 credits a month")
	database := fs.String("database", "", "without --url: DATABASE_URL to use; a postgres:// one gets a fresh schema per run (default: a new SQLite file per run)")
	history := fs.Int("history", 0, "without --url: past events to store before each run, to measure a large events table")
	levels := fs.String("concurrency", "1,16,64", "concurrent senders; a comma-separated list runs each")
	workspaces := fs.Int("workspaces", 100, "workspaces; each sends 20 events")
	dups := fs.Float64("duplicates", 0.2, "share of events sent twice")
	pid := fs.Int("pid", 0, "with --url: the service's process id, to report its peak memory")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	runs := fs.Int("runs", 1, "runs per concurrency, each on a fresh database; more than one also prints medians")
	writers := fs.Int("writers", 0, "without --url: group commits at once on PostgreSQL (default the store's)")
	stages := fs.Bool("stages", false, "without --url: also measure the service's parts, each against the ceiling: decoding with no database, and storing events with no decoding")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *url != "" && (*secret == "" || *apiKey == "") {
		return fmt.Errorf("--url needs --secret and --api-key")
	}
	if *url != "" {
		if err := loopbackOnly(*url); err != nil {
			return err
		}
		if *stages {
			return fmt.Errorf("--stages measures services it starts itself; leave out --url")
		}
	}
	if *workspaces < 1 || *workspaces > 100000 || *dups < 0 || *dups > 1 || *history < 0 || *history > 10_000_000 || *runs < 1 || *runs > 100 {
		return errUsage
	}
	var concurrency []int
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1024 {
			return fmt.Errorf("--concurrency %q: want numbers from 1 to 1024", *levels)
		}
		concurrency = append(concurrency, n)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	for _, c := range concurrency {
		var perSecond, ratios, p99s, decodeOnly, storeOnly, trips, sizes []float64
		for i := range *runs {
			l := benchLevel{concurrency: c, prefix: fmt.Sprintf("bench%s_c%d_%d", hex.EncodeToString(run), c, i),
				target: benchTarget{url: *url, secret: *secret, apiKey: *apiKey, writers: *writers}, stages: *stages}
			if err := l.run(ctx, env.Stdout, *workspaces, *dups, *price, *database, *history); err != nil {
				return err
			}
			perSecond = append(perSecond, l.got.PerSecond())
			ratios = append(ratios, l.got.PerSecond()/l.ceiling.PerSecond())
			p99s = append(p99s, float64(l.got.Quantile(0.99)))
			trips, sizes = append(trips, l.commits.tripsPerDelivery()), append(sizes, l.commits.perBatch())
			if *stages {
				decodeOnly = append(decodeOnly, l.decodeOnly.PerSecond()/l.ceiling.PerSecond())
				storeOnly = append(storeOnly, l.storeOnly.PerSecond()/l.ceiling.PerSecond())
			}
		}
		if *runs > 1 {
			fmt.Fprintf(env.Stdout, "median of %d runs at concurrency %d: %.0f events/s, %.0f %% of the ceiling, p99 %s\n",
				*runs, c, median(perSecond), 100*median(ratios), time.Duration(median(p99s)).Round(10*time.Microsecond))
			if *url == "" {
				fmt.Fprintf(env.Stdout, "median of %d runs at concurrency %d: %.1f events per group commit, %.1f round trips to the database per delivery\n",
					*runs, c, median(sizes), median(trips))
			}
			if *stages {
				fmt.Fprintf(env.Stdout, "median of %d runs at concurrency %d: decode only %.0f %%, store only %.0f %% of the ceiling\n",
					*runs, c, 100*median(decodeOnly), 100*median(storeOnly))
			}
		}
	}
	if *pid != 0 {
		fmt.Fprintf(env.Stdout, "service peak RSS %s\n", peakRSS(strconv.Itoa(*pid)))
	} else if *url == "" {
		fmt.Fprintf(env.Stdout, "peak RSS of this process (service and load generator) %s\n", peakRSS("self"))
	}
	return nil
}

// loopbackOnly refuses a target off this machine: a load test is not a tool
// to point at someone else's service.
func loopbackOnly(raw string) error {
	u, ok := billing.WebURL(raw)
	if !ok {
		return fmt.Errorf("--url %q: want an http(s) URL", raw)
	}
	if !billing.IsLoopback(u.Hostname()) {
		return fmt.Errorf("--url %q: billing bench sends only to a loopback address (127.0.0.1, ::1, localhost)", raw)
	}
	return nil
}

// benchLevel is one run at one concurrency: the ceiling, then the service.
type benchLevel struct {
	concurrency int
	prefix      string
	target      benchTarget
	stages      bool
	// The ceiling, the service, and with stages its two parts.
	ceiling, got, decodeOnly, storeOnly *bench.Result
	// commits is what the service's database did during got (in this
	// process only).
	commits commitStats
}

// commitStats counts a run's group commits and round trips to the database.
type commitStats struct {
	deliveries, batches, events, trips, misses int64
}

// measure counts what svc and db do while run runs.
func measure(svc *billing.Service, db *store.DB, deliveries int, run func()) commitStats {
	b0, e0 := svc.BatchStats()
	t0, m0 := db.RoundTrips(), db.Misses()
	run()
	b1, e1 := svc.BatchStats()
	return commitStats{deliveries: int64(deliveries), batches: b1 - b0, events: e1 - e0,
		trips: db.RoundTrips() - t0, misses: db.Misses() - m0}
}

func (c commitStats) perBatch() float64 { return float64(c.events) / float64(max(c.batches, 1)) }

func (c commitStats) tripsPerDelivery() float64 {
	return float64(c.trips) / float64(max(c.deliveries, 1))
}

func (c commitStats) String() string {
	s := fmt.Sprintf("%d events in %d group commits, %.1f each, %d reads missed", c.events, c.batches, c.perBatch(), c.misses)
	if c.trips > 0 {
		s += fmt.Sprintf("; %d round trips to PostgreSQL, %.1f per delivery, %.1f per group commit",
			c.trips, c.tripsPerDelivery(), float64(c.trips)/float64(max(c.batches, 1)))
	}
	return s
}

func (l *benchLevel) run(ctx context.Context, out io.Writer, workspaces int, dups float64, price, database string, history int) error {
	w, err := bench.NewWorkload(l.prefix, workspaces, dups, uint64(l.concurrency), price)
	if err != nil {
		return err
	}
	if l.target.url == "" {
		stop, err := l.target.start(ctx, database, history)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		l.target.name = l.target.url
	}
	verifier := &webhook.Verifier{Secrets: []string{l.target.secret}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest}
	if l.ceiling, err = l.runLocal(ctx, bench.Baseline(verifier), w); err != nil {
		return err
	}
	if l.stages {
		if err := l.runStages(ctx, verifier, w, database, history); err != nil {
			return err
		}
	}
	if t := l.target; t.svc != nil {
		l.commits = measure(t.svc, t.db, len(w.Deliveries), func() {
			l.got = bench.Run(ctx, t.url, t.secret, w.Deliveries, l.concurrency)
		})
	} else {
		l.got = bench.Run(ctx, l.target.url, l.target.secret, w.Deliveries, l.concurrency)
	}
	fmt.Fprintf(out, "concurrency %d, %d deliveries (%d events, %d duplicates), %s\n", l.concurrency, len(w.Deliveries),
		w.Unique, len(w.Deliveries)-w.Unique, l.target.name)
	fmt.Fprintf(out, "  verify-only ceiling %s\n", l.ceiling)
	if l.stages {
		fmt.Fprintf(out, "  decode only         %s  (%.0f %% of the ceiling)\n", l.decodeOnly, 100*l.decodeOnly.PerSecond()/l.ceiling.PerSecond())
		fmt.Fprintf(out, "  store only          %s  (%.0f %% of the ceiling)\n", l.storeOnly, 100*l.storeOnly.PerSecond()/l.ceiling.PerSecond())
	}
	fmt.Fprintf(out, "  billing             %s\n", l.got)
	if l.target.svc != nil {
		fmt.Fprintf(out, "  database            %s\n", l.commits)
	}
	fmt.Fprintf(out, "  ratio to ceiling    %.0f %% of events/s; p99 %.1fx\n",
		100*l.got.PerSecond()/l.ceiling.PerSecond(), float64(l.got.Quantile(0.99))/float64(l.ceiling.Quantile(0.99)))
	bad, err := l.target.check(w.Workspaces)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  final state         %d of %d workspaces as expected\n", len(w.Workspaces)-bad, len(w.Workspaces))
	if bad > 0 || l.got.OK() != len(w.Deliveries) {
		return fmt.Errorf("%d workspaces wrong, %d of %d answers not 200", bad, len(w.Deliveries)-l.got.OK(), len(w.Deliveries))
	}
	return nil
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// benchTarget is the service under load.
type benchTarget struct {
	url, secret, apiKey, name string
	decoder                   billing.Decoder // default webhook.Decoder
	writers                   int             // store.Options.Writers
	// The service and its database, when it runs in this process.
	svc *billing.Service
	db  *store.DB
}

// start runs the service in this process on a fresh database holding
// history past events, as serve does.
func (t *benchTarget) start(ctx context.Context, databaseURL string, history int) (stop func(), err error) {
	databaseURL, cleanup, err := freshDatabase(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, databaseURL, store.Options{MaxOpenConns: 16, Writers: t.writers})
	if err != nil {
		cleanup()
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := db.Migrate(ctx, logger); err == nil && history > 0 {
		var old []byte
		if old, err = trigger.Build(trigger.Options{Type: "payment_intent.succeeded"}); err == nil {
			err = db.AddHistory(ctx, history, old, time.Now())
		}
	}
	if err != nil {
		db.Close()
		cleanup()
		return nil, err
	}
	plans, _ := billing.NewPlans([]billing.Plan{{ID: "pro", StripePriceIDs: []string{benchPrice}, MonthlyCredits: 1000}})
	svc := &billing.Service{Store: db, Decoder: cmp.Or[billing.Decoder](t.decoder, webhook.Decoder{}), Plans: plans, Logger: logger}
	stopBatching := svc.StartBatching(db.Writers(), maxBatch)
	t.secret, t.apiKey = "whsec_bench_"+hex.EncodeToString([]byte(databaseURL))[:16], "bench-api-key-0123456789"
	srv := &api.Server{Service: svc, APIKey: t.apiKey, Logger: logger, Ready: db.Ready,
		Verifier: &webhook.Verifier{Secrets: []string{t.secret}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := api.NewHTTPServer(srv.Handler())
	go hs.Serve(ln)
	t.url = "http://" + ln.Addr().String() + api.WebhookPath
	t.svc, t.db = svc, db
	t.name = db.Name() + " (in this process, durable commits)"
	return func() {
		hs.Close()
		stopBatching()
		db.Close()
		cleanup()
	}, nil
}

// freshDatabase returns a new SQLite file, or for a PostgreSQL URL a new
// schema in that database, and a cleanup that removes it.
func freshDatabase(ctx context.Context, databaseURL string) (string, func(), error) {
	if databaseURL == "" {
		dir, err := os.MkdirTemp("", "billing-bench-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite:" + filepath.Join(dir, "billing.db"), func() { os.RemoveAll(dir) }, nil
	}
	if !strings.HasPrefix(databaseURL, "postgres") {
		return databaseURL, func() {}, nil
	}
	u, err := neturl.Parse(databaseURL)
	if err != nil {
		return "", nil, fmt.Errorf("--database: %w", err)
	}
	admin, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "billing_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	}, nil
}

// check reads every workspace through the read API and counts those whose
// state is not what their life cycle leads to.
func (t *benchTarget) check(workspaces []string) (bad int, err error) {
	base := strings.TrimSuffix(t.url, api.WebhookPath)
	client := &http.Client{Timeout: 10 * time.Second}
	for i, ws := range workspaces {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/billing/workspaces/"+ws, nil)
		req.Header.Set("Authorization", "Bearer "+t.apiKey)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		var st struct {
			Subscription *struct {
				Status string `json:"status"`
			} `json:"subscription"`
			Credits struct {
				Subscription, Purchased int64
			} `json:"credits"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		wantStatus, wantSub := "active", int64(1000)
		if i%2 == 0 {
			wantStatus, wantSub = "canceled", 0
		}
		if err != nil || st.Subscription == nil || st.Subscription.Status != wantStatus ||
			st.Credits.Subscription != wantSub || st.Credits.Purchased != 250 {
			bad++
		}
	}
	return bad, nil
}

// runLocal sends the workload to h, served on loopback for this run only.
func (l *benchLevel) runLocal(ctx context.Context, h http.Handler, w *bench.Workload) (*bench.Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := api.NewHTTPServer(h)
	go hs.Serve(ln)
	defer hs.Close()
	return bench.Run(ctx, "http://"+ln.Addr().String()+api.WebhookPath, l.target.secret, w.Deliveries, l.concurrency), nil
}

// runStages measures the service's two parts on their own: decoding with
// no database, and the real service storing events it does not decode, on
// a database of its own. Neither can be faster than both together.
func (l *benchLevel) runStages(ctx context.Context, v *webhook.Verifier, w *bench.Workload, database string, history int) (err error) {
	if l.decodeOnly, err = l.runLocal(ctx, bench.DecodeOnly(v), w); err != nil {
		return err
	}
	storing := benchTarget{decoder: bench.StoreOnly{}, writers: l.target.writers}
	stop, err := storing.start(ctx, database, history)
	if err != nil {
		return err
	}
	defer stop()
	l.storeOnly = bench.Run(ctx, storing.url, storing.secret, w.Deliveries, l.concurrency)
	if l.storeOnly.OK() != len(w.Deliveries) {
		return fmt.Errorf("store only: %d of %d answers not 200", len(w.Deliveries)-l.storeOnly.OK(), len(w.Deliveries))
	}
	return nil
}

// peakRSS reads a process's peak resident memory (VmHWM) from /proc.
func peakRSS(pid string) string {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(v)[0])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}
