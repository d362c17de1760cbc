package checks

import (
	"errors"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// Every binary, built as `make build` builds it, says its version and
// revision as the Makefile stamped them, and refuses a flag or a verb it
// does not know with its usage (exit 2) rather than starting.
func TestEveryBinaryKnowsItsBuildAndRefusesUnknownArguments(t *testing.T) {
	m := regexp.MustCompile(`buildinfo\.version=(\S+) -X tributary\.dev/libs/buildinfo\.revision=(\S+)`).FindStringSubmatch(ldflags)
	if m == nil {
		t.Fatalf("make print-ldflags does not stamp version and revision: %q", ldflags)
	}
	version, revision := m[1], m[2]
	if version == "dev" || len(revision) != 40 {
		t.Fatalf("the Makefile stamps version %q revision %q: not from git describe / rev-parse", version, revision)
	}
	services, err := Services(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(binaries) != len(services)+1 {
		t.Fatalf("built %d binaries for %d services and the agent stub", len(binaries), len(services))
	}
	for name, bin := range binaries {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(bin, "--version").Output()
			want := name + " " + version + " (revision " + revision + ", " + runtime.Version() + ")\n"
			if err != nil || string(out) != want {
				t.Errorf("--version: %v %q, want %q", err, out, want)
			}
			for _, arg := range []string{"--no-such-flag", "no-such-verb"} {
				cmd := exec.Command(bin, arg)
				cmd.Env = []string{}
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Errorf("%s %s: %v, want exit status 2\n%s", name, arg, err, out)
					continue
				}
				text := strings.ToLower(string(out))
				if !strings.Contains(text, arg) || !(strings.Contains(text, "usage") || strings.Contains(text, "verbs")) {
					t.Errorf("%s %s: the error does not name the argument and show the usage:\n%s", name, arg, out)
				}
			}
		})
	}
}
