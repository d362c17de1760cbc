package main

import (
	"testing"

	"tributary.dev/libs/testkit/agentstub"
)

// kill -9 at each stage — queue written, a batch of corps committed, a
// page claimed, a batch about to be sent, a batch answered but the answer
// not recorded — then a restart: the same credentials as a run that was
// never interrupted. What the dead process had claimed is held as
// unconfirmed (it may have been sent), so a plain restart sends none of it
// again; `post --unconfirmed` does, and only the batches whose answer was
// lost with the process reach the controller twice.
func TestKillNineAtEachStageThenRestart(t *testing.T) {
	const corps, events, seed = 200, 30, 21
	// The uninterrupted run.
	ref := newHarness(t, agentstub.Options{})
	ref.generate(corps, 0, seed)
	ref.mustRun([]string{"initial-load"})
	ref.mustRun([]string{"post"})
	ref.generate(0, events, seed+1)
	ref.mustRun(nil)
	want := ref.hashes()

	for _, tc := range []struct {
		point string
		verb  []string
		// lostAnswer: the controller answered batches the process did not
		// record; they are posted again.
		lostAnswer bool
	}{
		{"after-commit", []string{"initial-load"}, false},
		{"after-claim", []string{"post"}, false},
		{"before-send", []string{"post"}, false},
		{"after-answer", []string{"post"}, true},
		{"after-queue", nil, false},
	} {
		t.Run(tc.point, func(t *testing.T) {
			h := newHarness(t, agentstub.Options{})
			h.generate(corps, 0, seed)
			switch tc.verb {
			case nil: // the service's run: load and post first, then new events
				h.mustRun([]string{"initial-load"})
				h.mustRun([]string{"post"})
				h.generate(0, events, seed+1)
				h.killAt(tc.point, nil)
				h.mustRun(nil)
			default:
				if tc.verb[0] == "post" {
					h.mustRun([]string{"initial-load"})
				}
				h.killAt(tc.point, tc.verb)
				h.mustRun(tc.verb)
				if tc.verb[0] == "initial-load" {
					h.mustRun([]string{"post"})
				} else if held := h.count(heldSQL); held == 0 {
					t.Errorf("nothing held as unconfirmed after a kill at %s", tc.point)
				} else {
					h.mustRun([]string{"post", "--unconfirmed"})
				}
				h.generate(0, events, seed+1)
				h.mustRun(nil)
			}
			got := h.hashes()
			if len(got) != len(want) {
				t.Errorf("%d credentials, want the uninterrupted run's %d", len(got), len(want))
			}
			for hash, st := range want {
				if got[hash] != st {
					t.Errorf("credential %s: status %q, want %q", hash, got[hash], st)
					break
				}
			}
			twice := 0
			for k, n := range h.received() {
				switch {
				case n == 2 && tc.lostAnswer:
					twice++
				case n != 1:
					t.Errorf("posted %d times: %s", n, k)
				}
			}
			// Every batch in flight at the kill may have been answered and
			// not recorded: POST_CONCURRENCY (2 here) batches of POST_BATCH.
			if twice > 2*10 {
				t.Errorf("%d credentials posted twice: more than the batches in flight when the process died", twice)
			}
		})
	}
}
