// Package progress shows how far a long verb is (a backfill, a restore,
// an initial load): on a terminal a bar redrawn in place, otherwise a
// plain line every few seconds, so that a pod's log says it too.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Func is told how far the work is: done units of total; total 0 when
// the total is not known in advance (a stream read as it comes).
type Func func(done, total int)

// New returns a Func writing to w under label: on a terminal a bar
// redrawn at most ten times a second, otherwise a line every five
// seconds. Both print the final count when done reaches total. Safe for
// concurrent use.
func New(w io.Writer, label string) Func {
	tty := isTerminal(w)
	every := 5 * time.Second
	if tty {
		every = 100 * time.Millisecond
	}
	return newFunc(w, label, tty, every, time.Now)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newFunc(w io.Writer, label string, tty bool, every time.Duration, now func() time.Time) Func {
	var mu sync.Mutex
	start := now()
	var last time.Time
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		t := now()
		final := total > 0 && done >= total
		if !final && t.Sub(last) < every {
			return
		}
		last = t
		rate := float64(done) / max(t.Sub(start).Seconds(), 1e-3)
		if total <= 0 {
			if tty {
				fmt.Fprintf(w, "\r%s %d %.0f/s", label, done, rate)
			} else {
				fmt.Fprintf(w, "%s: %d (%.0f/s)\n", label, done, rate)
			}
			return
		}
		pct := 100 * float64(done) / float64(total)
		if !tty {
			fmt.Fprintf(w, "%s: %d/%d (%.0f%%, %.0f/s)\n", label, done, total, pct, rate)
			return
		}
		const width = 30
		fill := min(width, int(pct*width/100))
		fmt.Fprintf(w, "\r%s [%s%s] %d/%d %.0f%% %.0f/s", label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total, pct, rate)
		if final {
			fmt.Fprintln(w)
		}
	}
}

// Done ends a line a bar of unknown total left open (a no-op when w is
// not a terminal, whose lines end themselves).
func Done(w io.Writer) {
	if isTerminal(w) {
		fmt.Fprintln(w)
	}
}
