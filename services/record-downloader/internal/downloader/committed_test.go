package downloader

import (
	"testing"
	"time"

	"tributary.dev/libs/recordstream/streamgen"
)

// Committed hears every commit of a backfill with the running counts, so
// the verb's progress ends at what the run did.
func TestCommittedReportsEachCommit(t *testing.T) {
	net := network(t, 3)
	all := generate(t, net, 4, streamgen.Options{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Interval: 20 * time.Minute})
	store := gcsStore(t)
	upload(t, store, objects(t, all))
	e := newEnv(t, store, net.Book(), []string{"0.0.3", "0.0.4", "0.0.5"}, "1/3")
	var seen []int
	e.d.Committed = func(res Result) { seen = append(seen, res.Files+res.Present) }
	res, err := e.d.Backfill(e.ctx, "2024-01-01T00")
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 || len(seen) == 0 || seen[len(seen)-1] != 3 {
		t.Fatalf("backfill wrote %d files; Committed heard %v, want a running count ending at 3", res.Files, seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("Committed heard %v: each commit adds files", seen)
		}
	}
}
