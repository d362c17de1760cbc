package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// Off a terminal: one line per interval, none in between, the last
// always; the counts and rate are the ones reported.
func TestLinesOffTerminal(t *testing.T) {
	var b bytes.Buffer
	c := &fakeClock{t: time.Unix(1000, 0)}
	p := newFunc(&b, "backfill 2022-07-13", false, 5*time.Second, c.now)
	c.t = c.t.Add(10 * time.Second)
	p(10, 40) // first call: printed
	c.t = c.t.Add(time.Second)
	p(11, 40) // within the interval: not printed
	c.t = c.t.Add(5 * time.Second)
	p(20, 40)
	c.t = c.t.Add(time.Second)
	p(40, 40) // the last: printed whatever the interval
	want := "backfill 2022-07-13: 10/40 (25%, 1/s)\nbackfill 2022-07-13: 20/40 (50%, 1/s)\nbackfill 2022-07-13: 40/40 (100%, 2/s)\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// Unknown total: a running count.
func TestUnknownTotal(t *testing.T) {
	var b bytes.Buffer
	c := &fakeClock{t: time.Unix(0, 0)}
	p := newFunc(&b, "restore", false, 5*time.Second, c.now)
	c.t = c.t.Add(2 * time.Second)
	p(3000, 0)
	if got := b.String(); got != "restore: 3000 (1500/s)\n" {
		t.Fatalf("got %q", got)
	}
}

// On a terminal: a bar redrawn in place, ended by a newline at the end.
func TestBarOnTerminal(t *testing.T) {
	var b bytes.Buffer
	c := &fakeClock{t: time.Unix(0, 0)}
	p := newFunc(&b, "parse", true, 100*time.Millisecond, c.now)
	c.t = c.t.Add(time.Second)
	p(1, 4)
	c.t = c.t.Add(time.Second)
	p(4, 4)
	out := b.String()
	if !strings.HasPrefix(out, "\rparse [=======                       ] 1/4 25% 1/s") || !strings.HasSuffix(out, "\rparse [==============================] 4/4 100% 2/s\n") {
		t.Fatalf("bar: %q", out)
	}
	var nb bytes.Buffer
	Done(&nb)
	if nb.Len() != 0 {
		t.Fatalf("Done on a buffer wrote %q", nb.String())
	}
}
