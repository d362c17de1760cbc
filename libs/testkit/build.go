package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MainWithBinary is a TestMain for tests that run a service's real binary
// (kill -9 tests, --help): it builds the package in the current directory
// into a temp dir, stores the path in *bin, runs the tests and removes the
// build. race builds with the race detector; tags (e.g. "faults") are
// passed to -tags, so crash tests can build in fault-injection points that
// the production binary does not have.
func MainWithBinary(m *testing.M, name string, race bool, bin *string, tags ...string) {
	path, cleanup, err := BuildBinary(name, race, tags...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = path
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// BuildBinary builds the package in the current directory into a new temp
// dir and returns the binary's path and a cleanup that removes it. It is
// for a TestMain that needs more than one build, e.g. the production
// binary and one built with the "faults" tag.
func BuildBinary(name string, race bool, tags ...string) (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", name+"-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("build %s: %w", name, err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, name)
	args := []string{"build", "-o", path}
	if race {
		args = append(args, "-race")
	}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build %s (go %s .): %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return path, cleanup, nil
}
