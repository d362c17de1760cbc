//go:build faults

package faults

import (
	"fmt"
	"io"
	"os"
)

// EnvPause names the pause point a faults build stops at.
const EnvPause = "TRIBUTARY_FAULT_PAUSE"

// Reader returns r, except at the point TRIBUTARY_FAULT_PAUSE
// names: there the first Read goes through, then the process says so on
// stderr and blocks forever, so a test can kill it with part of an object
// written.
func Reader(point string, r io.Reader) io.Reader {
	if os.Getenv(EnvPause) != point {
		return r
	}
	return &pauser{point: point, r: r}
}

type pauser struct {
	point string
	r     io.Reader
	reads int
}

func (p *pauser) Read(b []byte) (int, error) {
	if p.reads == 1 {
		fmt.Fprintf(os.Stderr, "FAULT PAUSE %s\n", p.point)
		select {}
	}
	p.reads++
	return p.r.Read(b[:min(len(b), 1024)])
}

// Point stops the process forever when TRIBUTARY_FAULT_PAUSE
// names it, after saying so on stderr.
func Point(point string) {
	if os.Getenv(EnvPause) == point {
		fmt.Fprintf(os.Stderr, "FAULT PAUSE %s\n", point)
		select {}
	}
}
