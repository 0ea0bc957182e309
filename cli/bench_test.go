package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/acme/billing/cli"
	"github.com/acme/billing/store/storetest"
)

// billing bench runs the ceiling and the service, on a database with
// history, checks the final state of every workspace and prints medians.
func TestBenchSmallRun(t *testing.T) {
	t.Parallel()
	args := []string{"bench", "--concurrency", "1,4", "--workspaces", "3", "--runs", "2", "--history", "100"}
	if storetest.Postgres() {
		args = append(args, "--database", storetest.PostgresURL(t))
	}
	var out bytes.Buffer
	code := cli.Run(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
	wants := []string{"verify-only ceiling", "3 of 3 workspaces as expected", "codes map[200:72]",
		"median of 2 runs at concurrency 4", "peak RSS", "72 events in ", " group commits, ", " events per group commit, "}
	if storetest.Postgres() {
		wants = append(wants, " round trips to PostgreSQL, ")
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

// --stages also measures decoding alone and storing alone, each against
// the ceiling, on every delivery of the run.
func TestBenchStages(t *testing.T) {
	t.Parallel()
	args := []string{"bench", "--concurrency", "2", "--workspaces", "3", "--runs", "2", "--stages"}
	if storetest.Postgres() {
		args = append(args, "--database", storetest.PostgresURL(t))
	}
	var out bytes.Buffer
	code := cli.Run(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
	for _, want := range []string{"  decode only ", "  store only ", "median of 2 runs at concurrency 2: decode only"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// ceiling, decode only, store only and the service, in each of 2 runs
	if n := strings.Count(out.String(), "codes map[200:72]"); n != 8 {
		t.Errorf("%d runs answered all 72 deliveries 200, want 8", n)
	}
	if code != 0 || t.Failed() {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	t.Parallel()
	remote := []string{"--secret", "whsec_x", "--api-key", "k"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--concurrency", "0"}, "want numbers from 1 to 1024"},
		{[]string{"bench", "--runs", "0"}, "usage: billing bench"},
		{[]string{"bench", "--duplicates", "2"}, "usage: billing bench"},
		{[]string{"bench", "--url", "http://127.0.0.1:1/"}, "--url needs --secret and --api-key"},
		{append([]string{"bench", "--url", "https://api.example.com/api/billing/webhooks/stripe/"}, remote...), "only to a loopback address"},
		{append([]string{"bench", "--url", "http://10.0.0.7:8000/"}, remote...), "only to a loopback address"},
		{append([]string{"bench", "--url", "ftp://127.0.0.1/"}, remote...), "want an http(s) URL"},
		{append([]string{"bench", "--stages", "--url", "http://127.0.0.1:1/"}, remote...), "leave out --url"},
	} {
		var out bytes.Buffer
		code := cli.Run(context.Background(), tt.args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
		if code == 0 || !strings.Contains(out.String(), tt.want) {
			t.Errorf("billing %v: exit %d %q, want an error with %q", tt.args, code, out.String(), tt.want)
		}
	}
}
