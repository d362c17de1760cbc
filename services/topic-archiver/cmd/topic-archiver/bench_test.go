package main

import (
	"context"
	"fmt"
	"os"
	"slices"
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
//
// The raw consume and the segment pass take well under two seconds, so a
// scheduling hiccup or a slow group join on this shared machine moves
// either by half: each is run three times and the medians are compared.
// Object mode takes half a minute and runs once.
func BenchmarkArchive(b *testing.B) {
	const n, size, runs = 100_000, 1024, 3
	e := newProcEnv(b, 8)
	e.produce("bench", n, size)

	var raw []time.Duration
	for i := range runs {
		raw = append(raw, rawConsume(b, e.brokers, fmt.Sprintf("raw-%d", i), n))
	}
	rawRate := float64(n) / median(raw).Seconds()

	b.ResetTimer()
	results := map[string]float64{}
	for _, mode := range []string{"segment", "object"} {
		var durs, cpus []time.Duration
		var peak int64
		for i := range map[string]int{"segment": runs, "object": 1}[mode] {
			name := fmt.Sprintf("%s-%d", mode, i)
			dsn := testkit.Postgres(b) // a fresh index: nothing is a duplicate
			m := e.runMeasured(b, "RUN_AS_SERVICE=false", "STORE_MODE="+mode, "TARGET="+dsn, "KAFKA_GROUP=bench-"+name,
				"S3="+strings.Replace(e.bucket.Raw(), "bucket_path=archive", "bucket_path="+name, 1))
			durs, cpus = append(durs, m.Wall), append(cpus, m.CPU)
			peak = max(peak, m.PeakRSS)
		}
		rate := float64(n) / median(durs).Seconds()
		results[mode] = rate
		fmt.Printf("topic-archiver %s: %d msgs of %d B in %.2fs = %.0f msg/s, %.2fx raw consume (%.0f msg/s), archiver CPU %.2fs, peak RSS %d MB (%s)\n",
			mode, n, size, median(durs).Seconds(), rate, rate/rawRate, rawRate, median(cpus).Seconds(), peak>>20, runsSaid(len(durs)))
	}
	b.StopTimer()
	b.ReportMetric(results["segment"], "segment_msg/s")
	b.ReportMetric(results["object"], "object_msg/s")
	b.ReportMetric(results["segment"]/rawRate, "segment_x_raw")
}

// rawConsume reads n messages with a consumer group of its own, storing
// nothing: the baseline.
func rawConsume(b *testing.B, brokers []string, group string, n int) time.Duration {
	start := time.Now()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, GroupTopics: []string{"bench"}, StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond, QueueCapacity: 2000, CommitInterval: time.Second})
	defer r.Close()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := r.FetchMessage(ctx)
		cancel()
		if err != nil {
			b.Fatalf("raw consume after %d: %v", i, err)
		}
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func runsSaid(n int) string {
	if n == 1 {
		return "one run"
	}
	return fmt.Sprintf("median of %d runs", n)
}

// runMeasured runs the binary to completion and measures it.
func (e *procEnv) runMeasured(b *testing.B, extra ...string) testkit.Measurement {
	c := e.cmd(nil, extra...)
	c.Stderr = os.Stderr
	m, err := testkit.RunMeasured(c)
	if err != nil {
		b.Fatalf("topic-archiver: %v", err)
	}
	return m
}
