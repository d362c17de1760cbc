package main

import (
	"context"
	"crypto/sha512"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// BenchmarkDownload is `make bench` for the record-downloader: 2,000
// record files of about 50 KB with their signature files from 3 nodes in
// fake-gcs-server, downloaded by the real binary (no race detector) with
// every signature verified and every record file hashed, beside a plain
// loop of concurrent GETs over the same objects it reads (every node's
// signatures, one node's records), in the same run. Target: ≥ 0.7× the
// loop's files/s, memory flat (peak RSS independent of the file count).
func BenchmarkDownload(b *testing.B) {
	const nodes, concurrency = 3, 16
	files := 2000
	if n, err := strconv.Atoi(os.Getenv("BENCH_FILES")); err == nil && n > 0 {
		files = n // a quicker run while working on it
	}
	t0 := time.Now()
	bin := benchBinary(b)
	ctx := context.Background()
	gcs, bucket := testkit.GCS(b)
	store, err := blob.Open(ctx, testkit.GCSBucket(gcs, bucket))
	if err != nil {
		b.Fatal(err)
	}
	net, err := streamgen.NewNetwork(nodes)
	if err != nil {
		b.Fatal(err)
	}
	keys := b.TempDir()
	if err := net.WritePublicKeys(keys, func(a string) string { return a + ".pem" }); err != nil {
		b.Fatal(err)
	}
	// 8 items of 6,000 random bytes: about 49 KB per record file, which
	// gzip cannot shrink.
	g := net.Stream(streamgen.Options{Items: 8, TxBytes: 6000})
	var read []string // what the downloader reads
	var bytesRead int64
	for i := 0; i < files; i++ {
		f, err := g.Next()
		if err != nil {
			b.Fatal(err)
		}
		objs, err := f.Objects("recordstreams/")
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range objs {
			// Seeded straight into the server's memory: an upload through
			// the API is not what is measured, and is slow.
			gcs.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: o.Key}, Content: o.Body})
			if strings.HasSuffix(o.Key, "_sig") || strings.HasPrefix(o.Key, "recordstreams/record0.0.3/") {
				read = append(read, o.Key)
				bytesRead += int64(len(o.Body))
			}
		}
	}

	fmt.Fprintf(os.Stderr, "generated and uploaded %d files in %s\n", files, time.Since(t0).Round(time.Millisecond))
	// Baseline: the same objects, CONCURRENCY GETs at a time, bodies read
	// and dropped.
	start := time.Now()
	getAll(b, store, read, concurrency)
	rawDur := time.Since(start)
	rawRate := float64(files) / rawDur.Seconds()

	dest := b.TempDir()
	c := exec.Command(bin)
	c.Env = append(os.Environ(), "RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=warn", "NOTIFICATIONS=true",
		"NATS="+testkit.NATS(b), "BUCKET=gs://"+bucket, "BUCKET_ENDPOINT="+gcs.URL(),
		"NODES=0.0.3,0.0.4,0.0.5", "NODE_PUBLIC_KEYS="+keys, "DEST_DIR="+dest, fmt.Sprintf("CONCURRENCY=%d", concurrency))
	m := runBench(b, c)
	written, _ := filepath.Glob(filepath.Join(dest, "2024-01-01", "*.rcd.gz"))
	if len(written) != files {
		b.Fatalf("%d record files written, want %d", len(written), files)
	}
	rate := float64(files) / m.Wall.Seconds()
	fmt.Printf("record-downloader: %d record files (+%d signatures, %d MB read) from %d nodes in %.2fs = %.0f files/s, %.2fx a plain concurrent GET loop over the same objects (%.0f files/s in %.2fs), CPU %.2fs, peak RSS %d MB\n",
		files, files*nodes, bytesRead>>20, nodes, m.Wall.Seconds(), rate, rate/rawRate, rawRate, rawDur.Seconds(), m.CPU.Seconds(), m.PeakRSS>>20)
	b.ReportMetric(rate, "files/s")
	b.ReportMetric(rate/rawRate, "x_get_loop")
	b.ReportMetric(float64(m.PeakRSS>>20), "peak_rss_MB")
}

func getAll(b *testing.B, store blob.Store, keys []string, workers int) {
	forAll(b, store, keys, workers, func(_ string, rc io.Reader) error {
		_, err := io.Copy(io.Discard, rc)
		return err
	})
}

// forAll GETs every key, workers at a time, and hands each body to fn.
func forAll(b *testing.B, store blob.Store, keys []string, workers int, fn func(key string, body io.Reader) error) {
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Go(func() {
			for k := range work {
				rc, err := store.Open(context.Background(), k)
				if err == nil {
					err = fn(k, rc)
					rc.Close()
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// BenchmarkDownloadBlocks is `make bench` for the block stream: 1,000
// generated blocks of 200 transactions (about 70 KB each as the buckets
// store them) in fake-gcs-server, fetched by the real binary from the
// bucket by number, every one decompressed, its root hash computed, its
// proof checked, chained, written with fsync and announced, beside a
// plain loop of 16 concurrent GETs over the same objects, in the same
// run. Target: ≥ 0.7× the loop's blocks/s, memory flat (peak RSS
// independent of the block count). BENCH_BLOCKS=300 makes a quicker run.
func BenchmarkDownloadBlocks(b *testing.B) {
	const concurrency = 16
	blocks := 1000
	if n, err := strconv.Atoi(os.Getenv("BENCH_BLOCKS")); err == nil && n > 1 {
		blocks = n
	}
	t0 := time.Now()
	bin := benchBinary(b)
	ctx := context.Background()
	gcs, bucket := testkit.GCS(b)
	store, err := blob.Open(ctx, testkit.GCSBucket(gcs, bucket))
	if err != nil {
		b.Fatal(err)
	}
	net, err := streamgen.NewNetwork(1)
	if err != nil {
		b.Fatal(err)
	}
	keys := b.TempDir()
	if err := net.WritePublicKeys(keys, func(a string) string { return a + ".pem" }); err != nil {
		b.Fatal(err)
	}
	g := blockgen.New(blockgen.Options{Transactions: 200, Placeholder: true})
	var read []string
	var bytesRead int64
	for i := 0; i < blocks; i++ {
		blk, err := g.Next()
		if err != nil {
			b.Fatal(err)
		}
		key := blocksrc.Key("mainnet", blk.Number)
		data := blk.Zstd()
		gcs.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: key}, Content: data})
		read = append(read, key)
		bytesRead += int64(len(data))
	}
	fmt.Fprintf(os.Stderr, "generated and uploaded %d blocks in %s\n", blocks, time.Since(t0).Round(time.Millisecond))

	start := time.Now()
	getAll(b, store, read, concurrency)
	rawDur := time.Since(start)
	// The last block waits for the one after it: blocks-1 are written.
	written := blocks - 1
	rawRate := float64(blocks) / rawDur.Seconds()
	// The work no downloader can skip, for scale: the same GETs, each
	// block decompressed, its root hash computed and its stored bytes
	// hashed (the event's sha384), with no order, writes or events.
	start = time.Now()
	verifyAll(b, store, read, concurrency)
	floorDur := time.Since(start)
	floorRate := float64(blocks) / floorDur.Seconds()

	dest := b.TempDir()
	c := exec.Command(bin)
	c.Env = append(os.Environ(), "RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=warn", "NOTIFICATIONS=true",
		"NATS="+testkit.NATS(b), "BUCKET=gs://"+bucket, "BUCKET_ENDPOINT="+gcs.URL(), "NODE_PUBLIC_KEYS="+keys,
		"BLOCK_BUCKETS=gs://"+bucket, "BLOCK_SOURCE=bucket", "START_BLOCK=0", "BLOCK_TSS_PLACEHOLDER=true",
		"DEST_DIR="+dest, fmt.Sprintf("CONCURRENCY=%d", concurrency))
	m := runBench(b, c)
	files, _ := filepath.Glob(filepath.Join(dest, "*", "*.blk.zstd"))
	if len(files) != written {
		b.Fatalf("%d blocks written, want %d", len(files), written)
	}
	rate := float64(written) / m.Wall.Seconds()
	fmt.Printf("record-downloader blocks: %d blocks of 200 transactions (%d MB read) in %.2fs = %.0f blocks/s, %.2fx a plain concurrent GET loop over the same objects (%.0f blocks/s in %.2fs), %.2fx the GET + decompress + root hash + SHA-384 floor (%.0f blocks/s in %.2fs), CPU %.2fs, peak RSS %d MB\n",
		written, bytesRead>>20, m.Wall.Seconds(), rate, rate/rawRate, rawRate, rawDur.Seconds(), rate/floorRate, floorRate, floorDur.Seconds(), m.CPU.Seconds(), m.PeakRSS>>20)
	b.ReportMetric(rate, "blocks/s")
	b.ReportMetric(rate/rawRate, "x_get_loop")
	b.ReportMetric(rate/floorRate, "x_verify_floor")
	b.ReportMetric(float64(m.PeakRSS>>20), "peak_rss_MB")
}

// verifyAll is getAll with each block read as a block: decompressed, its
// root hash computed, its stored bytes hashed.
func verifyAll(b *testing.B, store blob.Store, keys []string, workers int) {
	readers := sync.Pool{New: func() any { return blockstream.NewReader(blockstream.DefaultLimits) }}
	forAll(b, store, keys, workers, func(k string, rc io.Reader) error {
		data, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		r := readers.Get().(*blockstream.Reader)
		defer readers.Put(r)
		blk, err := r.Parse(k, data)
		if err != nil {
			return err
		}
		sha512.Sum384(data)
		_, _, err = blk.RootHash()
		return err
	})
}

// benchBinary builds the binary without the race detector.
func benchBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "record-downloader")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// runBench runs c to its end as the measured part of the benchmark.
func runBench(b *testing.B, c *exec.Cmd) testkit.Measurement {
	c.Stderr = os.Stderr
	b.ResetTimer()
	m, err := testkit.RunMeasured(c)
	b.StopTimer()
	if err != nil {
		b.Fatalf("record-downloader: %v", err)
	}
	return m
}
