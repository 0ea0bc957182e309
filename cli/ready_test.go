package cli_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unprivileged is a uid that file modes apply to: root ignores them.
const unprivileged = 65532

// runAs runs the built billing binary with env in dir, as unprivileged
// when the test runs as root, and returns its exit code and output. A
// command still running after 15 s is killed: serve started.
func runAs(t *testing.T, bin, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, append([]string{"PATH=/usr/bin:/bin"}, env...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivileged, Gid: unprivileged}}
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return -1, string(out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// own gives the paths to the user runAs runs as.
func own(t *testing.T, paths ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, p := range paths {
		if err := os.Chown(p, unprivileged, unprivileged); err != nil {
			t.Fatal(err)
		}
	}
}

// `billing serve` refuses to start on a SQLite database it cannot write,
// naming the file to fix: SQLite would open it read-only without a word,
// /readyz would say ready and every write would fail.
func TestServeRefusesAnUnwritableDatabase(t *testing.T) {
	bin := buildBilling(t)
	// t.TempDir makes directories only their owner may enter.
	reachable(t, filepath.Dir(bin))
	for _, tt := range []struct {
		name   string
		breaks func(t *testing.T, dir string)
		want   string
	}{
		{"read-only file", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, "billing.db"), 0o444)
		}, "billing.db is not writable: permission denied"},
		// What a chmod 644 of the file leaves when SQLite had made its
		// shared memory while the file was read-only.
		{"read-only shared memory", func(t *testing.T, dir string) {
			shm := filepath.Join(dir, "billing.db-shm")
			if err := os.WriteFile(shm, nil, 0o444); err != nil {
				t.Fatal(err)
			}
			own(t, shm)
		}, "billing.db-shm is not writable: permission denied"},
		{"read-only directory", func(t *testing.T, dir string) {
			chmod(t, dir, 0o555)
		}, "is not writable: permission denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			reachable(t, dir)
			own(t, dir)
			env := []string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "billing.db"), "BILLING_ADDR=127.0.0.1:0"}
			if code, out := runAs(t, bin, dir, env, "migrate"); code != 0 {
				t.Fatalf("migrate: %d %s", code, out)
			}
			tt.breaks(t, dir)
			code, out := runAs(t, bin, dir, env, "serve")
			if code != 1 || !strings.Contains(out, tt.want) || !strings.Contains(out, "cannot be written") {
				t.Errorf("serve: exit %d\n%s\nwant exit 1 naming %q", code, out, tt.want)
			}
		})
	}
}

// reachable lets any user enter dir and its parent, the test's own.
func reachable(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(path, 0o755) })
}

// /readyz follows the disk under a SQLite database: 503 "database not
// writable" while its filesystem is too full for a few group commits, 200
// once room is made, with no restart; the log says so when it changes.
// serve probes in the background, so /readyz may lag by a probe. The
// filesystem is a small tmpfs, which only root can mount.
func TestReadinessFollowsTheDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root, which this test needs to mount a small filesystem")
		}
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	s := startService(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "billing.db")})
	// ready waits for /readyz to answer want, up to a few probes.
	ready := func(want int) (int, string) {
		var v struct {
			Status string `json:"status"`
		}
		code := 0
		for deadline := time.Now().Add(10 * time.Second); code != want && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			code = s.getJSON("/readyz", &v)
		}
		return code, v.Status
	}
	if code, status := ready(http.StatusOK); code != http.StatusOK {
		t.Fatalf("on an empty disk: %d %q", code, status)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	// Leave 1 MiB: writes would still fit a few events, not a few batches.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(fs.Bavail)*int64(fs.Bsize)-1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, status := ready(http.StatusServiceUnavailable); code != http.StatusServiceUnavailable || status != "database not writable" {
		t.Errorf("disk full: %d %q, want 503 database not writable", code, status)
	}
	if out := s.out.String(); !strings.Contains(out, "Not ready: database not writable") || !strings.Contains(out, "disk full") {
		t.Errorf("the log does not say the disk is full:\n%s", out)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, status := ready(http.StatusOK); code != http.StatusOK {
		t.Errorf("after making room: %d %q, want 200", code, status)
	}
	if !strings.Contains(s.out.String(), "Ready again") {
		t.Error("the log does not say the database is ready again")
	}
}
