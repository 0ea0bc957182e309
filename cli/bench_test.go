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
	for _, want := range []string{"verify-only ceiling", "3 of 3 workspaces as expected", "codes map[200:72]",
		"median of 2 runs at concurrency 4", "peak RSS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"bench", "--concurrency", "0"},
		{"bench", "--runs", "0"},
		{"bench", "--url", "http://127.0.0.1:1/"},
		{"bench", "--duplicates", "2"},
	} {
		var out bytes.Buffer
		if code := cli.Run(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}); code == 0 {
			t.Errorf("billing %v: exit 0, want an error\n%s", args, out.String())
		}
	}
}
