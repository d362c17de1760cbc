package main

import (
	"context"
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
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
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
	bin := filepath.Join(b.TempDir(), "record-downloader")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
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
	c.Stderr = os.Stderr
	b.ResetTimer()
	m, err := testkit.RunMeasured(c)
	b.StopTimer()
	if err != nil {
		b.Fatalf("record-downloader: %v", err)
	}
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
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Go(func() {
			for k := range work {
				rc, err := store.Open(context.Background(), k)
				if err == nil {
					_, err = io.Copy(io.Discard, rc)
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
