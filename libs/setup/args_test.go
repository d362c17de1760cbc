package setup_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"

	"tributary.dev/libs/setup"
)

// --version prints the build (unstamped in a test binary: dev) and
// starts nothing.
func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-version"} {
		called := false
		code, out, _ := run(t, &plain{}, func(context.Context, *setup.Env) error { called = true; return nil }, flag)
		want := "widget dev (revision "
		if code != 0 || called || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, runtime.Version()+")\n") {
			t.Errorf("%s: exit %d, run called %v, printed %q; want %q…", flag, code, called, out, want)
		}
	}
}

// A flag or verb the command does not know stops it with status 2, the
// argument named and the usage (the verbs) printed; the service does not
// start as if nothing had been said.
func TestUnknownArgumentIsAnErrorWithUsage(t *testing.T) {
	cases := []struct{ arg, says string }{
		{"--dry-run", `unknown flag "--dry-run"`},
		{"-x", `unknown flag "-x"`},
		{"backfil", `unknown verb or argument "backfil"`},
	}
	for _, c := range cases {
		called := false
		code, out, stderr := run(t, &plain{}, func(context.Context, *setup.Env) error { called = true; return nil }, c.arg)
		if code != 2 || called || out != "" {
			t.Errorf("%s: exit %d, run called %v, stdout %q; want exit 2 and nothing run", c.arg, code, called, out)
		}
		for _, want := range []string{"widget: " + c.says, "usage: widget [--help | --version]", "Verbs: frob", "widget --help lists every variable"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.arg, want, stderr)
			}
		}
	}
}

// A verb that parsed its own flags hands them to setup with VerbArgs:
// they are not refused, and --help and --version among them still work.
func TestVerbArgsAreTheVerbs(t *testing.T) {
	t.Setenv("METRICS_ADDR", "")
	start := func(args ...string) (int, bool, string) {
		var stdout, stderr bytes.Buffer
		called := false
		code := setup.Run(context.Background(), "widget backfill", "backfills", &plain{},
			func(context.Context, *setup.Env) error { called = true; return nil },
			setup.VerbArgs(args), setup.Output(&stdout, &stderr), setup.Logger(zap.NewNop()), setup.WithoutServer())
		return code, called, stdout.String() + stderr.String()
	}
	if code, called, out := start("--marker", "2022-07", "extra"); code != 0 || !called {
		t.Fatalf("verb's own arguments: exit %d, run called %v\n%s", code, called, out)
	}
	if code, called, out := start("--marker", "x", "--help"); code != 0 || called || !strings.Contains(out, "widget backfill — backfills") {
		t.Fatalf("--help among a verb's flags: exit %d, run called %v\n%s", code, called, out)
	}
	if code, called, out := start("--version"); code != 0 || called || !strings.HasPrefix(out, "widget backfill dev ") {
		t.Fatalf("--version: exit %d, run called %v\n%s", code, called, out)
	}
}
