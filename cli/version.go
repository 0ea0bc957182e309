package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X github.com/acme/billing/cli.version=v1.2.3";
// otherwise the module version and VCS revision Go recorded are shown.
var version = ""

func versionCmd(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "version")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	v, rev, modified := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "+dirty"
	}
	if rev != "" {
		rev = " " + rev
	}
	fmt.Fprintf(env.Stdout, "billing %s%s %s %s/%s\n", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
