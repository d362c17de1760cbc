package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoTributaryPackage keeps config the lowest layer of libs:
// every service and every other lib package may import it, so if it
// imported one of them (as it once imported runner) the dependency would
// point the wrong way and the next import in that package would be a
// cycle. go list -deps sees indirect imports too.
func TestImportsNoTributaryPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	self := strings.TrimSpace(mustSelf(t))
	var deps int
	for _, dep := range strings.Fields(string(out)) {
		deps++
		if strings.HasPrefix(dep, "tributary.dev/") && dep != self {
			t.Errorf("%s imports %s: config must not depend on any other tributary package", self, dep)
		}
	}
	// A listing that did not reach the package's own imports would
	// pass for nothing.
	if deps < 10 || !strings.Contains(string(out), "github.com/kelseyhightower/envconfig") {
		t.Fatalf("go list -deps gave too little to judge:\n%s", out)
	}
}

func mustSelf(t *testing.T) string {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	return string(out)
}
