//go:build faults

package faults

import (
	"fmt"
	"os"
)

// EnvPause names the pause point a faults build stops at.
const EnvPause = "REGISTRY_PROCESSOR_FAULT_PAUSE"

// Point stops the process forever when REGISTRY_PROCESSOR_FAULT_PAUSE
// names it, after saying so on stderr, so a test can kill -9 it there.
func Point(point string) {
	if os.Getenv(EnvPause) == point {
		fmt.Fprintf(os.Stderr, "FAULT PAUSE %s\n", point)
		select {}
	}
}
