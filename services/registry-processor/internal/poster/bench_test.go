package poster

import (
	"context"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

// BenchmarkPost drains 20,000 credentials (corps of 1-4) into the stub at
// 5 ms per request with the defaults (10 per request, 32 in flight) and
// reports credentials per second; the target is 2,000.
func BenchmarkPost(b *testing.B) {
	sizes := make([]int, 8000)
	for i := range sizes {
		sizes[i] = 1 + i%4
	}
	rows := queue(sizes)
	stub := testkit.Agent(b, agentstub.Options{Latency: 5 * time.Millisecond})
	var total int
	var elapsed time.Duration
	for b.Loop() {
		st := newMemStore(append([]Row(nil), rows...))
		stats, err := New(Config{URL: stub.URL}, st).Run(context.Background(), nil)
		if err != nil || stats.Success != len(rows) {
			b.Fatalf("stats %+v err %v", stats, err)
		}
		total += stats.Success
		elapsed += stats.Elapsed
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "creds/s")
}
