package testdata

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress returns a progress callback for long commands (initial-load,
// post, testdata generate): on a terminal a bar redrawn in place at most
// ten times a second, otherwise a log line every five seconds. Both
// print the final count when done reaches total. Safe for concurrent use.
func Progress(w io.Writer, label string) func(done, total int) {
	tty := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	every := 5 * time.Second
	if tty {
		every = 100 * time.Millisecond
	}
	var mu sync.Mutex
	start := time.Now()
	var last time.Time
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		// total 0: not known in advance (a queue drained as it is read).
		final := total > 0 && done >= total
		if !final && now.Sub(last) < every {
			return
		}
		last = now
		rate := float64(done) / max(now.Sub(start).Seconds(), 1e-3)
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
