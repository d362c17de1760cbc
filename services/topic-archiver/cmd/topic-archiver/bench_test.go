package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
)

// BenchmarkArchive is `make bench` for the topic-archiver: 100,000
// messages of 1 KiB on 8 partitions, archived by the real binary in
// object and in segment mode, beside a floor measured in the same run.
// Targets: object ≥ 2,000 msg/s; segment ≥ 20,000 msg/s and ≥ 0.8× the
// floor; memory flat.
//
// The floor is the I/O segment mode cannot avoid, done by a minimal
// program with the same clients and no archiver logic (no BSON encoding,
// no hashing, no look-ups, no offset commits). After each segment pass
// the bench reads back what that pass wrote — its S3 objects and its index
// rows — and then, timed, runs three steps one after another and sums
// their times:
//
//  1. consume: the same 100,000 messages with a kafka-go group reader of
//     its own (the raw consume), storing nothing;
//  2. put: the pass's objects, byte for byte and at their sizes, to new
//     keys through the same blob.S3 client (signed, write-once), as many
//     at a time as the archiver writes segments (archive.FlushParallel);
//  3. COPY: the pass's index rows, value for value, into archive_messages
//     of a fresh database migrated with the service's own migrations
//     (same table, same indexes), one COPY per object, as many at a time.
//
// Steps in sequence rather than a pipeline: a minimal program that
// overlapped them would have to cut segments and decide when each is
// full — the archiver's logic — and on this machine, where Kafka, S3 and
// PostgreSQL share two CPUs with whoever writes to them, overlapping adds
// no CPU, so the sum is what that I/O costs. The archiver does overlap
// (segments are written while the next batches are fetched), so where the
// servers have CPUs of their own, or the machine is loaded and every step
// waits, it passes 1.0×. The floor's consume also runs beside the
// in-process kfake, so on a loaded machine it gets one process's share of
// the CPUs where a segment pass gets two. The archiver's time is
// its process's wall time, which also holds process start, migrations on
// its fresh index and topic discovery; the floor has none of these but
// joins a consumer group too. The ratio is floor time / archiver time,
// with the archiver's own CPU per message printed beside it.
//
// The raw consume and the segment pass take a second or two, so a
// scheduling hiccup or a slow group join on this shared machine moves
// either by half: segment passes and floors run three times each,
// alternating, and the medians are compared. Object mode takes far
// longer and runs once.
//
// BENCH_PROFILE=1 adds one more segment pass over the same messages,
// in this process under the CPU profiler, and prints where the profile
// was written (a temp dir). Its samples are labelled run=archiver, so
// `go tool pprof -tagfocus run=archiver` leaves out the in-process Kafka.
func BenchmarkArchive(b *testing.B) {
	const n, size, runs = 100_000, 1024, 3
	e := newProcEnv(b, 8)
	e.produce("bench", n, size)

	b.ResetTimer()
	var floors []floorTimes
	var floor floorTimes
	results := map[string]float64{}
	var segCPU time.Duration
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
			if mode == "segment" {
				w := e.written(b, name, dsn)
				floors = append(floors, e.floor(b, w, fmt.Sprintf("floor-%d", i), n))
			}
		}
		rate := float64(n) / median(durs).Seconds()
		results[mode] = rate
		if mode == "segment" {
			floor = medianFloor(floors)
			segCPU = median(cpus)
		}
		rawRate := float64(n) / medianOf(floors, func(f floorTimes) time.Duration { return f.consume }).Seconds()
		fmt.Printf("topic-archiver %s: %d msgs of %d B in %.2fs = %.0f msg/s, %.2fx raw consume (%.0f msg/s), archiver CPU %.2fs, peak RSS %d MB (%s)\n",
			mode, n, size, median(durs).Seconds(), rate, rate/rawRate, rawRate, median(cpus).Seconds(), peak>>20, runsSaid(len(durs)))
		if mode == "segment" {
			fmt.Printf("topic-archiver floor: %d msgs of %d B in %.2fs = %.0f msg/s: consume %.2fs + %d S3 puts of %d MB, %d at a time, %.2fs + %d COPYs of %d index rows, %d at a time, %.2fs (median of %d runs; the steps of that run); segment %.2fx floor, archiver CPU %.1f µs/msg\n",
				n, size, floor.total().Seconds(), float64(n)/floor.total().Seconds(), floor.consume.Seconds(),
				floor.objects, floor.bytes>>20, archive.FlushParallel, floor.put.Seconds(), floor.objects, floor.rows, archive.FlushParallel, floor.copy.Seconds(),
				len(floors), rate/(float64(n)/floor.total().Seconds()), float64(segCPU.Microseconds())/n)
		}
	}
	b.StopTimer()
	b.ReportMetric(results["segment"], "segment_msg/s")
	b.ReportMetric(results["object"], "object_msg/s")
	b.ReportMetric(results["segment"]/(float64(n)/floor.total().Seconds()), "segment_x_floor")
	b.ReportMetric(float64(segCPU.Microseconds())/n, "segment_cpu_µs/msg")
	if os.Getenv("BENCH_PROFILE") != "" {
		e.profileSegmentPass(b, n)
	}
}

// writtenObject is one object a segment pass wrote and the index rows
// that point into it, as COPY takes them.
type writtenObject struct {
	key  string
	body []byte
	rows [][]any
}

// indexColumns are archive_messages' columns the archiver fills; the rest
// have defaults.
var indexColumns = []string{"uuid", "topic", "topic_id", "partition", "offset", "timestamp", "bucket", "key", "byte_offset", "byte_length", "size", "sha256", "payload_sha256", "headers"}

// written reads back what the segment pass under prefix stored: every
// object's bytes and every index row, grouped by object.
func (e *procEnv) written(b *testing.B, prefix, dsn string) []writtenObject {
	b.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Minute)
	defer cancel()
	var objs []writtenObject
	byKey := map[string]int{}
	err := e.store.List(ctx, prefix+"/", "", func(o blob.Object) error {
		rc, err := e.store.Open(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		body, err := io.ReadAll(rc)
		if err != nil {
			return fmt.Errorf("read %s: %w", o.Key, err)
		}
		byKey[o.Key] = len(objs)
		objs = append(objs, writtenObject{key: o.Key, body: body})
		return nil
	})
	if err != nil {
		b.Fatalf("read back %s: %v", prefix, err)
	}
	pool, err := pg.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT `+pg.QuoteIdents(indexColumns[:len(indexColumns)-1])+`, headers::text
		FROM archive_messages ORDER BY key, byte_offset`)
	if err != nil {
		b.Fatalf("read back index of %s: %v", prefix, err)
	}
	count := 0
	for rows.Next() {
		var (
			id, topicID                 pgtype.UUID
			topic, bucket, key, headers string
			partition, size             int32
			offset, byteOffset, byteLen int64
			ts                          time.Time
			sum, payload                []byte
		)
		if err := rows.Scan(&id, &topic, &topicID, &partition, &offset, &ts, &bucket, &key, &byteOffset, &byteLen, &size, &sum, &payload, &headers); err != nil {
			b.Fatal(err)
		}
		i, ok := byKey[key]
		if !ok {
			b.Fatalf("index row of %s@%d points at %s, which %s did not write", topic, offset, key, prefix)
		}
		objs[i].rows = append(objs[i].rows, []any{id, topic, topicID, partition, offset, ts, bucket, key, byteOffset, byteLen, size, sum, payload, headers})
		count++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if count == 0 || len(objs) == 0 {
		b.Fatalf("%s wrote %d objects and %d index rows", prefix, len(objs), count)
	}
	return objs
}

// floorTimes is one floor run: its three steps and what they moved.
type floorTimes struct {
	consume, put, copy   time.Duration
	objects, rows, bytes int
}

func (f floorTimes) total() time.Duration { return f.consume + f.put + f.copy }

// floor runs the three steps of the floor (see BenchmarkArchive) over
// what one segment pass wrote.
func (e *procEnv) floor(b *testing.B, objs []writtenObject, name string, n int) floorTimes {
	b.Helper()
	ft := floorTimes{objects: len(objs)}
	for _, o := range objs {
		ft.rows += len(o.rows)
		ft.bytes += len(o.body)
	}
	// Set up untimed: a client of its own, and the table with the
	// service's migrations on a fresh database.
	st, err := blob.Open(e.ctx, e.bucket)
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pg.Connect(e.ctx, testkit.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := index.New(pool).Migrate(e.ctx); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Minute)
	defer cancel()

	ft.consume = rawConsume(b, e.brokers, name, n)

	start := time.Now()
	parallel(b, objs, func(o writtenObject) error {
		key := name + "/" + o.key[strings.IndexByte(o.key, '/')+1:]
		return st.Put(ctx, key, bytes.NewReader(o.body), int64(len(o.body)))
	})
	ft.put = time.Since(start)

	start = time.Now()
	parallel(b, objs, func(o writtenObject) error {
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"archive_messages"}, indexColumns, pgx.CopyFromRows(o.rows))
		if err != nil {
			return fmt.Errorf("copy %d rows of %s: %w", len(o.rows), o.key, err)
		}
		return nil
	})
	ft.copy = time.Since(start)
	return ft
}

// parallel runs fn over objs, archive.FlushParallel at a time, as the
// archiver writes and indexes its segments.
func parallel(b *testing.B, objs []writtenObject, fn func(writtenObject) error) {
	b.Helper()
	next := make(chan writtenObject)
	errs := make([]error, archive.FlushParallel)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				if err := fn(o); err != nil && errs[w] == nil {
					errs[w] = err
				}
			}
		}()
	}
	for _, o := range objs {
		next <- o
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// medianFloor is the floor run of median total time, so the steps it
// prints add up to the total it prints.
func medianFloor(fs []floorTimes) floorTimes {
	s := slices.Clone(fs)
	slices.SortFunc(s, func(a, b floorTimes) int { return int(a.total() - b.total()) })
	return s[len(s)/2]
}

func medianOf(fs []floorTimes, f func(floorTimes) time.Duration) time.Duration {
	ds := make([]time.Duration, len(fs))
	for i, x := range fs {
		ds[i] = f(x)
	}
	return median(ds)
}

// profileSegmentPass archives the bench topic once more in segment mode,
// in this process, under the CPU profiler. The configuration is the
// binary's defaults for a one-shot run (BATCH_SIZE 2000, SEGMENT_BYTES
// 16 MiB, SEGMENT_SECONDS 10, IDLE_EXIT 60) with a fresh group, index and
// prefix.
func (e *procEnv) profileSegmentPass(b *testing.B, n int) {
	dir, err := os.MkdirTemp("", "topic-archiver-profile-")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "segment-cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dsn := testkit.Postgres(b)
	st, err := blob.Open(e.ctx, e.bucket)
	if err != nil {
		b.Fatal(err)
	}
	sel, err := archive.NewSelector("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	meta, err := kafkameta.New(e.brokers, kafkameta.Auth{})
	if err != nil {
		b.Fatal(err)
	}
	defer meta.Close()
	cfg := archive.Config{Brokers: e.brokers, Group: "bench-profile", Meta: meta, Topics: sel, Mode: archive.SegmentMode, Root: "profile",
		SegmentBytes: 16 << 20, SegmentAge: 10 * time.Second, BatchSize: 2000, TopicRefresh: time.Second, Once: true, IdleExit: time.Minute}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	pprof.Do(e.ctx, pprof.Labels("run", "archiver"), func(ctx context.Context) {
		// The pool is opened here so that its goroutines carry the label.
		pool, perr := pg.Connect(ctx, dsn)
		if perr != nil {
			err = perr
			return
		}
		defer pool.Close()
		ix := index.New(pool)
		if err = ix.Migrate(ctx); err != nil {
			return
		}
		a := archive.New(cfg, st, ix, nil, zap.NewNop(), archive.NewMetrics(metrics.New("topic-archiver")))
		err = a.Run(ctx)
	})
	pprof.StopCPUProfile()
	if err != nil {
		b.Fatalf("profiled segment pass: %v", err)
	}
	fmt.Printf("topic-archiver profile: segment pass of %d msgs in process in %.2fs; CPU profile in %s (go tool pprof -tagfocus run=archiver -top %s)\n",
		n, time.Since(start).Seconds(), path, path)
}

// rawConsume reads n messages with a consumer group of its own, storing
// nothing: the floor's first step.
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
