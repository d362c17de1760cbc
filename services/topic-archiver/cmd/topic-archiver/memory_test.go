package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"tributary.dev/libs/testkit"
)

// TestMemoryBoundedByBytes archives 1 MiB messages with the default
// configuration — BATCH_SIZE's 2,000 of them would be 2 GiB — in a
// process of the real binary, so the peak RSS read from /proc is the
// archiver's own, and holds it under the ceiling the README states:
// 2 × (2 × BATCH_BYTES + SEGMENT_MEMORY) + 100 MiB, well inside the pod's
// 1 GiB: the live data is bounded by 2 × BATCH_BYTES + SEGMENT_MEMORY, and
// the collector (GOGC=100) lets the heap reach twice the live data.
// The content is checked too: bounded memory must not cost a message.
func TestMemoryBoundedByBytes(t *testing.T) {
	for _, mode := range []string{"segment", "object"} {
		t.Run(mode, func(t *testing.T) {
			const n, size = 300, 1 << 20
			e := newProcEnvWith(t, kfake.DefaultNumPartitions(4), kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(4 << 20)}))
			e.produceLarge("big", n, size)
			const (
				batchBytes    = 64 << 20     // BATCH_BYTES default
				segmentMemory = 4 * 16 << 20 // SEGMENT_MEMORY default: 4 × SEGMENT_BYTES
				ceiling       = 2*(2*batchBytes+segmentMemory) + 100<<20
			)
			c := e.cmd(nil, "RUN_AS_SERVICE=false", "STORE_MODE="+mode, "IDLE_EXIT=120")
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			m, err := testkit.RunMeasured(c)
			if err != nil {
				t.Fatalf("archiver: %v\n%s", err, out.String())
			}
			t.Logf("%s mode: %d messages of %d B, peak RSS %d MiB (ceiling %d MiB), CPU %s", mode, n, size, m.PeakRSS>>20, ceiling>>20, m.CPU)
			if m.PeakRSS >= ceiling {
				t.Errorf("peak RSS %d MiB, want under %d MiB (2 × (2 × BATCH_BYTES + SEGMENT_MEMORY) + 100 MiB)", m.PeakRSS>>20, ceiling>>20)
			}
			var rows int
			if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_messages WHERE topic = 'big'`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != n {
				t.Fatalf("index holds %d messages, want %d", rows, n)
			}
			e.checkExactlyOnce("big", n, size)
		})
	}
}

// produceLarge sends n messages of size bytes, in the form checkExactlyOnce
// expects, a few per request.
func (e *procEnv) produceLarge(topic string, n, size int) {
	e.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: topic, AllowAutoTopicCreation: true, BatchSize: 4, BatchBytes: 8 << 20,
		BatchTimeout: 2 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for i := 0; i < n; i += 4 {
		var batch []kafka.Message
		for j := i; j < min(n, i+4); j++ {
			v := bytes.Repeat([]byte{byte(j)}, size)
			copy(v, fmt.Sprintf("m-%d-", j))
			batch = append(batch, kafka.Message{Value: v})
		}
		var err error
		for try := 0; try < 40; try++ {
			if err = w.WriteMessages(e.ctx, batch...); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			e.t.Fatalf("produce %d messages of %d B: %v", n, size, err)
		}
	}
}
