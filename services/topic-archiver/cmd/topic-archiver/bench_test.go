package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"tributary.dev/libs/testkit"
)

// BenchmarkArchive is `make bench` for the topic-archiver: 100,000
// messages of 1 KiB on 8 partitions, archived by the real binary in
// object and in segment mode, beside a raw kafka-go consume of the same
// messages (no storing) measured in the same run. Targets: object ≥ 2,000
// msg/s; segment ≥ 20,000 msg/s and ≥ 0.3× raw consume; memory flat.
func BenchmarkArchive(b *testing.B) {
	const n, size = 100_000, 1024
	e := newProcEnv(b, 8)
	e.produce("bench", n, size)

	// Baseline: a consumer group reading everything, storing nothing.
	start := time.Now()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, GroupID: "raw", GroupTopics: []string{"bench"}, StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond, QueueCapacity: 2000, CommitInterval: time.Second})
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := r.FetchMessage(ctx)
		cancel()
		if err != nil {
			b.Fatalf("raw consume after %d: %v", i, err)
		}
	}
	rawDur := time.Since(start)
	r.Close()
	rawRate := float64(n) / rawDur.Seconds()

	b.ResetTimer()
	results := map[string]float64{}
	for _, mode := range []string{"segment", "object"} {
		dsn := testkit.Postgres(b) // a fresh index: nothing is a duplicate
		dur, rss := e.runMeasured(b, "RUN_AS_SERVICE=false", "STORE_MODE="+mode, "TARGET="+dsn, "KAFKA_GROUP=bench-"+mode,
			"S3="+strings.Replace(e.bucket.Raw(), "bucket_path=archive", "bucket_path="+mode, 1))
		rate := float64(n) / dur.Seconds()
		results[mode] = rate
		fmt.Printf("topic-archiver %s: %d msgs of %d B in %.2fs = %.0f msg/s, %.2fx raw consume (%.0f msg/s), peak RSS %d MB\n",
			mode, n, size, dur.Seconds(), rate, rate/rawRate, rawRate, rss>>20)
	}
	b.StopTimer()
	b.ReportMetric(results["segment"], "segment_msg/s")
	b.ReportMetric(results["object"], "object_msg/s")
	b.ReportMetric(results["segment"]/rawRate, "segment_x_raw")
}

// runMeasured runs the binary to completion and returns its wall time and
// peak RSS.
func (e *procEnv) runMeasured(b *testing.B, extra ...string) (time.Duration, int64) {
	c := e.cmd(nil, extra...)
	c.Stderr = os.Stderr
	d, peak, err := testkit.RunMeasured(c)
	if err != nil {
		b.Fatalf("topic-archiver: %v", err)
	}
	return d, peak
}
