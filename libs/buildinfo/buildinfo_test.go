package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// An unstamped build says so rather than inventing a version.
func TestUnstampedSaysDev(t *testing.T) {
	if got := Version(); got != "dev" {
		t.Fatalf("Version() of an unstamped test binary = %q, want dev", got)
	}
	if got := GoVersion(); got != runtime.Version() {
		t.Fatalf("GoVersion() = %q, want %q", got, runtime.Version())
	}
	if got := String("widget"); !strings.HasPrefix(got, "widget dev (revision ") || !strings.HasSuffix(got, runtime.Version()+")") {
		t.Fatalf("String = %q", got)
	}
}

// The -X flags the Makefile and the Dockerfile pass reach the variables:
// a binary built with them prints what was stamped.
func TestLinkerStampsVersionAndRevision(t *testing.T) {
	dir := t.TempDir()
	src := `package main

import (
	"fmt"

	"tributary.dev/libs/buildinfo"
)

func main() { fmt.Print(buildinfo.String("widget")) }
`
	main := filepath.Join(dir, "main.go")
	if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "widget")
	ld := "-X tributary.dev/libs/buildinfo.version=v1.2.3-4-gabcdef0 -X tributary.dev/libs/buildinfo.revision=abcdef0123"
	build := exec.Command("go", "build", "-ldflags", ld, "-o", bin, main)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "widget v1.2.3-4-gabcdef0 (revision abcdef0123, " + runtime.Version() + ")"
	if string(out) != want {
		t.Fatalf("stamped binary prints %q, want %q", out, want)
	}
}
