package parser

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/intake"
)

// BenchmarkParseToNDJSON is `make bench` for the record-parser: the
// three real 5,000-transaction v2 load-test files and a generated v6 file
// of 10,000 mixed transactions, each read from disk, decoded, checked
// (every hash, the running hash recomputed), encoded as documents and
// written as an NDJSON file (fsync, rename) — on one core — beside the
// floor of reading the same files and computing their SHA-384, in the same
// run. Target: ≥ 100,000 transactions/s per core; the ratio to the floor
// is printed.
func BenchmarkParseToNDJSON(b *testing.B) {
	root := filepath.Join(testkit.HederaStreams(b), "performance", "v2")
	records := b.TempDir()
	var jobs []intake.Job
	for _, n := range []string{"2020-02-09T18_30_00.000084Z.rcd", "2020-02-09T18_30_05.007359Z.rcd", "2020-02-09T18_30_10.001022Z.rcd"} {
		data, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			b.Fatal(err)
		}
		jobs = append(jobs, place(b, records, n, data))
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	plain, err := recordstream.EncodeV6(recordstream.HAPIVersion{Minor: 50}, make([]byte, 48), 1000, txgen.Items(10000, 7, start), nil)
	if err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	jobs = append(jobs, place(b, records, "2024-01-01T00_00_00.000000000Z.rcd.gz", gz.Bytes()))

	out := b.TempDir()
	p, err := New(Config{RecordDir: records, OutputDir: out, Concurrency: 1}, nil, nil, nil, zap.NewNop(), NewMetrics(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	const rounds = 5
	var txs, bytesRead int
	var floor time.Duration
	var parse time.Duration
	for range rounds {
		t0 := time.Now()
		for _, j := range jobs {
			data, err := os.ReadFile(filepath.Join(records, j.Day, j.Name))
			if err != nil {
				b.Fatal(err)
			}
			sum := sha512.Sum384(data)
			_ = sum
		}
		floor += time.Since(t0)
		t0 = time.Now()
		for _, j := range jobs {
			d, data, err := p.decode(j)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.writeNDJSON(d, p.stateFile(d)); err != nil {
				b.Fatal(err)
			}
			txs += len(d.docs)
			bytesRead += len(data)
			p.release(d)
		}
		parse += time.Since(t0)
	}
	b.StopTimer()
	rate := float64(txs) / parse.Seconds()
	floorRate := float64(txs) / floor.Seconds()
	fmt.Printf("record-parser: %d transactions (3 real v2 files of ~5,000 + a generated v6 file of 10,000, %d MB, %d rounds) to NDJSON on one core in %.2fs = %.0f tx/s (target ≥ 100,000), %.2fx the read+SHA-384 floor (%.0f tx/s in %.2fs)\n",
		txs, bytesRead>>20, rounds, parse.Seconds(), rate, rate/floorRate, floorRate, floor.Seconds())
	b.ReportMetric(rate, "tx/s")
	b.ReportMetric(rate/floorRate, "x_floor")
}

// place writes a record file where the downloader would.
func place(b *testing.B, records, name string, data []byte) intake.Job {
	at, err := recordstream.NameTime(name)
	if err != nil {
		b.Fatal(err)
	}
	job, err := intake.NewJob(at.UTC().Format(time.DateOnly), name, "3")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(records, job.Day), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(records, job.Day, name), data, 0o644); err != nil {
		b.Fatal(err)
	}
	return job
}
