package cli_test

import (
	"debug/elf"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acme/billing/billingtest"
)

// dockerfile is what the image's recipe says, read from the Dockerfile.
type dockerfile struct {
	build      string            // the RUN line that builds the binary
	env        map[string]string // ENV
	entrypoint []string
	cmd        []string
	user       string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ") // continuation lines
	d := dockerfile{env: map[string]string{}}
	for _, line := range strings.Split(text, "\n") {
		word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch word {
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.build, _, _ = strings.Cut(rest, " && ")
			}
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "ENTRYPOINT":
			mustJSON(t, rest, &d.entrypoint)
		case "CMD":
			mustJSON(t, rest, &d.cmd)
		case "USER":
			d.user = rest
		}
	}
	if d.build == "" || len(d.entrypoint) != 1 || len(d.cmd) == 0 || d.user == "" {
		t.Fatalf("Dockerfile not understood: %+v", d)
	}
	return d
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("Dockerfile: %q: %v", s, err)
	}
}

// No Docker engine runs here, so this follows the Dockerfile's recipe by
// hand: its build command must give a static binary (the distroless base
// has no libc), which must serve with the image's environment and command
// as the image's non-root user, with its data directory the only one it
// can write, and stop cleanly on SIGTERM.
func TestImageRecipe(t *testing.T) {
	d := readDockerfile(t)
	root, err := os.MkdirTemp("", "billing-image-") // not t.TempDir: the image's user must traverse it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "billing")
	build := exec.Command("sh", "-c", strings.ReplaceAll(d.build, "/out/billing", bin))
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", d.build, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			libs = append(libs, "an ELF interpreter")
		}
	}
	f.Close()
	if len(libs) > 0 {
		t.Fatalf("the image's binary is not static: it needs %v", libs)
	}

	// The image's paths, moved under root: /data (the volume) and the plans file.
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	plans, _ := os.ReadFile("../plans.json")
	if err := os.WriteFile(filepath.Join(root, "plans.json"), plans, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, d.cmd...)
	cmd.Dir = data
	cmd.Env = []string{"PATH=/usr/bin:/bin", "BILLING_ADDR=127.0.0.1:0"}
	for k, v := range d.env {
		v = strings.ReplaceAll(v, "/data/", data+"/")
		v = strings.ReplaceAll(v, "/etc/billing/plans.json", filepath.Join(root, "plans.json"))
		if k != "BILLING_ADDR" { // a free port here, not :8000
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if os.Geteuid() == 0 && d.user == "nonroot:nonroot" {
		// distroless's nonroot is uid and gid 65532; the image chowns /data to it.
		const nonroot = 65532
		if err := os.Chown(data, nonroot, nonroot); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonroot, Gid: nonroot}}
	} else {
		t.Logf("not root: serving as uid %d instead of the image's %s", os.Geteuid(), d.user)
	}
	out := &billingtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	addr := waitFor(t, out, regexp.MustCompile(`Listening on http://(127\.0\.0\.1:\d+)/`), done)
	for path, want := range map[string]int{"/readyz": 200, "/admin/login": 200} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("GET %s: %v %v\n%s", path, resp, err, out)
		}
		resp.Body.Close()
	}
	if _, err := os.Stat(filepath.Join(data, "billing.db")); err != nil {
		t.Errorf("the database is not in the data directory: %v", err)
	}
	if !strings.Contains(out.String(), `{"time":`) {
		t.Errorf("the image's command does not log JSON:\n%s", out)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", out)
	}
}

// waitFor waits for a line of out matching re and returns its first group.
func waitFor(t *testing.T, out *billingtest.Buffer, re *regexp.Regexp, exited chan error) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-exited:
			t.Fatalf("exited: %v\n%s", err, out)
		case <-deadline:
			t.Fatalf("no %s in 20s:\n%s", re, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// .env.example lists every setting the README's Configuration table
// documents, and only those; compose.yaml passes .env whole, and mounts the
// plans file.
func TestPackagedSettingsAreDocumented(t *testing.T) {
	read := func(file string) string {
		t.Helper()
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	keys := func(re, text string) map[string]bool {
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(text, -1) {
			out[m[1]] = true
		}
		return out
	}
	documented := keys("(?m)^\\| `([A-Z][A-Z_]+)` \\|", read("../README.md"))
	example := keys(`(?m)^#?([A-Z][A-Z_]+)=`, read("../.env.example"))
	if len(documented) < 20 {
		t.Fatalf("README's table: found only %v", documented)
	}
	for k := range documented {
		if !example[k] {
			t.Errorf("README documents %s, which .env.example does not list", k)
		}
	}
	for k := range example {
		if !documented[k] {
			t.Errorf(".env.example sets %s, which README's Configuration table does not list", k)
		}
	}
	compose := read("../compose.yaml")
	for _, want := range []string{"env_file:\n      - path: .env\n        required: false", "./plans.json:/etc/billing/plans.json:ro",
		"image: docker.io/library/postgres:15"} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
	for _, line := range strings.Split(read("../Dockerfile"), "\n") {
		if from, ok := strings.CutPrefix(line, "FROM "); ok && strings.Count(strings.Fields(from)[0], "/") < 2 {
			t.Errorf("Dockerfile: %q is not a fully qualified image name", line)
		}
	}
}
