package checks

import (
	"fmt"
	"os"
	"testing"
)

// repoRoot, ldflags and binaries are set up once for every test: the
// repository, the -ldflags the Makefile stamps with (read once: a commit
// during the run changes them) and every binary built with them.
var (
	repoRoot string
	ldflags  string
	binaries map[string]string
	varsOf   map[string]map[string]bool
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	if ldflags, err = Ldflags(root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "deploy-checks-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if binaries, err = Build(root, dir, ldflags); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	varsOf = map[string]map[string]bool{}
	for name, bin := range binaries {
		if varsOf[name], err = Variables(bin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
