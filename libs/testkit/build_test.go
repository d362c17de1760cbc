package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildBinaryTags builds one package twice, as a crash test's TestMain
// does: without tags the fault-injection file is left out, with "faults"
// it is in. The package says which build it is.
func TestBuildBinaryTags(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":    "module example.test/svc\n\ngo 1.22\n",
		"main.go":   "package main\n\nimport \"fmt\"\n\nvar build = \"production\"\n\nfunc main() { fmt.Print(build) }\n",
		"faults.go": "//go:build faults\n\npackage main\n\nfunc init() { build = \"faults\" }\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	cases := []struct {
		name string
		race bool
		tags []string
		want string
	}{
		{"production", false, nil, "production"},
		{"faults", false, []string{"faults"}, "faults"},
		{"faults and another tag", false, []string{"faults", "netgo"}, "faults"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin, cleanup, err := BuildBinary("svc", c.race, c.tags...)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin).Output()
			if err != nil {
				t.Fatalf("run %s: %v", bin, err)
			}
			if string(out) != c.want {
				t.Fatalf("binary built with tags %v says %q, want %q", c.tags, out, c.want)
			}
			cleanup()
			if _, err := os.Stat(bin); !os.IsNotExist(err) {
				t.Fatalf("cleanup left %s behind (%v)", bin, err)
			}
		})
	}
	// A build that fails says what was run and why.
	if err := os.WriteFile(filepath.Join(dir, "broken.go"), []byte("//go:build broken\n\npackage main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := BuildBinary("svc", false, "broken")
	if err == nil || !strings.Contains(err.Error(), "-tags broken") || !strings.Contains(err.Error(), "main redeclared") {
		t.Fatalf("broken build: err = %v, want the command and the compiler's reason", err)
	}
}
