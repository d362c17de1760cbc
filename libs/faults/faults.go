//go:build !faults

// Package faults holds the pause points crash tests stop a service at
// (then kill it with SIGKILL; testkit.KillAt). Only a binary built with the
// "faults" tag has them; in every other build they do nothing and cost
// nothing, so no production configuration can turn them on.
package faults

import "io"

// Reader returns r: without the faults tag there is no pause point.
func Reader(_ string, r io.Reader) io.Reader { return r }

// Point does nothing without the faults tag.
func Point(string) {}
