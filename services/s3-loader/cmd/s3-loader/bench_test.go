package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
)

// BenchmarkLoad is `make bench` for the s3-loader: a 1,000,000-row,
// 8-column gzipped full-load file and a 200,000-row CDC file (I/U/D mix),
// each loaded by the real binary (built without the race detector), beside
// a raw COPY FROM STDIN of the same decompressed rows into an identical
// empty table, measured in the same run. Targets: full load ≥ 0.5× raw
// COPY, CDC ≥ 50,000 rows/s, peak RSS < 150 MB.
func BenchmarkLoad(b *testing.B) {
	const loadRows, cdcRows = 1_000_000, 200_000
	bin := filepath.Join(b.TempDir(), "s3-loader")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	e := newProcEnv(b)
	const table = `(id bigint PRIMARY KEY, account integer, amount numeric(14,2), qty bigint,
		status text, note text, created_at timestamptz, flagged boolean)`
	if _, err := e.pool.Exec(e.ctx, "CREATE TABLE bench "+table+"; CREATE TABLE bench_raw "+table); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	row := func(buf *bytes.Buffer, id int) {
		fmt.Fprintf(buf, "%d,%d,%d.%02d,%d,%s,\"note %d, with comma\",2024-01-%02d %02d:%02d:%02d+00,%t\n",
			id, rng.IntN(100000), rng.IntN(1000000), rng.IntN(100), rng.Int64N(1<<40),
			[]string{"NEW", "OPEN", "FILLED", "CANCELLED"}[rng.IntN(4)], id, 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(2) == 0)
	}
	var raw bytes.Buffer
	for id := 1; id <= loadRows; id++ {
		row(&raw, id)
	}
	e.put("dbo/bench/LOAD00000001.csv.gz", gz(b, raw.Bytes()))

	// Baseline: raw COPY of the same decompressed rows.
	conn, err := e.pool.Acquire(e.ctx)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := pg.CopyFrom(e.ctx, conn.Conn().PgConn(), "bench_raw", nil, "FORMAT csv", bytes.NewReader(raw.Bytes())); err != nil {
		b.Fatal(err)
	}
	rawDur := time.Since(start)
	conn.Release()
	rawRate := float64(loadRows) / rawDur.Seconds()

	b.ResetTimer()
	loadDur, loadRSS := runMeasured(b, e, bin)
	loadRate := float64(loadRows) / loadDur.Seconds()
	if got := e.scalar(`SELECT count(*)::text FROM bench`); got != fmt.Sprint(loadRows) {
		b.Fatalf("bench holds %s rows after the full load", got)
	}

	// CDC: updates and deletes of loaded keys, inserts of new ones.
	var cdc bytes.Buffer
	next := loadRows
	for i := 0; i < cdcRows; i++ {
		switch r := rng.IntN(10); {
		case r < 4:
			cdc.WriteString("U,")
			row(&cdc, 1+rng.IntN(loadRows))
		case r < 7:
			next++
			cdc.WriteString("I,")
			row(&cdc, next)
		default:
			fmt.Fprintf(&cdc, "D,%d,,,,,,,\n", 1+rng.IntN(loadRows))
		}
	}
	e.put("dbo/bench/20240201-000000000.csv.gz", gz(b, cdc.Bytes()))
	cdcDur, cdcRSS := runMeasured(b, e, bin)
	cdcRate := float64(cdcRows) / cdcDur.Seconds()
	b.StopTimer()

	fmt.Printf("s3-loader full-load: %d rows in %.2fs = %.0f rows/s, %.2fx raw COPY (%.0f rows/s in %.2fs), peak RSS %d MB\n",
		loadRows, loadDur.Seconds(), loadRate, loadRate/rawRate, rawRate, rawDur.Seconds(), loadRSS>>20)
	fmt.Printf("s3-loader cdc: %d rows in %.2fs = %.0f rows/s (%.0fx the original's 1,860 rows/s), peak RSS %d MB\n",
		cdcRows, cdcDur.Seconds(), cdcRate, cdcRate/1860, cdcRSS>>20)
	b.ReportMetric(loadRate, "load_rows/s")
	b.ReportMetric(loadRate/rawRate, "x_raw_copy")
	b.ReportMetric(cdcRate, "cdc_rows/s")
	b.ReportMetric(float64(max(loadRSS, cdcRSS)>>20), "peak_rss_MB")
}

// runMeasured runs one pass of the loader binary and returns its wall
// time and peak resident set size.
func runMeasured(b *testing.B, e *procEnv, bin string) (time.Duration, int64) {
	c := e.cmd("NOTIFICATIONS=false", "LOG_LEVEL=warn")
	c.Path = bin
	c.Stderr = os.Stderr
	m, err := testkit.RunMeasured(c)
	if err != nil {
		b.Fatalf("s3-loader: %v", err)
	}
	return m.Wall, m.PeakRSS
}

func gz(b *testing.B, data []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		b.Fatal(err)
	}
	zw.Close()
	return out.Bytes()
}
