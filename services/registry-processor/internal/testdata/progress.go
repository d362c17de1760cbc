package testdata

import (
	"io"

	"tributary.dev/libs/progress"
)

// Progress returns a progress callback for long commands (initial-load,
// post, testdata generate): on a terminal a bar redrawn in place,
// otherwise a log line every five seconds (libs/progress, which the other
// services' long verbs use too).
func Progress(w io.Writer, label string) func(done, total int) {
	return progress.New(w, label)
}
