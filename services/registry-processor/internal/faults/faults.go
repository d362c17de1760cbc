//go:build !faults

// Package faults holds the pause points crash tests stop the process at
// (then kill it). Only a binary built with the "faults" tag has them; in
// every other build they do nothing and cost nothing.
package faults

// Point does nothing without the faults tag.
func Point(string) {}
