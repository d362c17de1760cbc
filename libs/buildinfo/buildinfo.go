// Package buildinfo is what a binary knows of its own build: the version
// and revision the build stamped into it, and the Go release that compiled
// it. `make build` and deploy/Dockerfile stamp them with
//
//	-ldflags "-X tributary.dev/libs/buildinfo.version=$(git describe --tags --always --dirty)
//	          -X tributary.dev/libs/buildinfo.revision=$(git rev-parse HEAD)"
//
// A binary built otherwise (go build, go test) says "dev" and, unless the
// Go toolchain recorded the VCS state, "unknown": it does not pretend.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker (-X); empty in an unstamped build.
var (
	version  string
	revision string
)

// Version is the stamped version (git describe), or "dev".
func Version() string {
	if version != "" {
		return version
	}
	return "dev"
}

// Revision is the stamped commit, else the one the Go toolchain recorded
// (builds with -buildvcs), else "unknown".
func Revision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// GoVersion is the Go release the binary was compiled with.
func GoVersion() string { return runtime.Version() }

// String is the line `<service> --version` prints.
func String(service string) string {
	return fmt.Sprintf("%s %s (revision %s, %s)", service, Version(), Revision(), GoVersion())
}
