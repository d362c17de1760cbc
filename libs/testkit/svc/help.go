package svc

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"tributary.dev/libs/setup"
)

// CheckHelp runs `binary --help` and fails the test unless every variable
// of the service's config struct (spec, as setup.Variables finds them) is
// listed there and named, in backticks, in the service README at
// readmePath. The list comes from the struct itself, so a new field
// cannot miss either. It returns the help text for further checks.
func CheckHelp(t *testing.T, binary, readmePath string, spec any) string {
	t.Helper()
	out, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", binary, err, out)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	vars := setup.Variables(spec)
	if len(vars) == 0 {
		t.Fatalf("the config struct %T has no variables", spec)
	}
	for _, v := range vars {
		if !strings.Contains(string(out), "  "+v+" ") {
			t.Errorf("--help lacks %s", v)
		}
		if !strings.Contains(string(readme), "`"+v+"`") {
			t.Errorf("README lacks %s", v)
		}
	}
	return string(out)
}
