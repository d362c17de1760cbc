package parser

import (
	"crypto/sha512"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/services/record-parser/internal/intake"
)

// BenchmarkBlocksToNDJSON is `make bench` for blocks: generated blocks of
// 10,000 mixed transactions each (blockgen: the record-stream generator's
// transactions as a consensus node writes them in a block), each read from
// disk as .blk.zstd, decompressed, split into items, its root hash
// computed, its transactions converted and encoded as documents and
// written as an NDJSON file (fsync, rename) with its block document — on
// one core — beside the floor of reading the same files, decompressing
// them and taking SHA-384 of the blocks, in the same run. Target: ≥
// 150,000 transactions/s. The heap after the first block and after the
// last says whether memory stays flat with the number of blocks.
func BenchmarkBlocksToNDJSON(b *testing.B) {
	const blocks, perBlock = 8, 10_000
	records := b.TempDir()
	gen := blockgen.New(blockgen.Options{Transactions: perBlock, FirstBlock: 91_500_000, Seed: 7})
	var jobs []intake.Job
	for range blocks {
		blk, err := gen.Next()
		if err != nil {
			b.Fatal(err)
		}
		day := blk.Time.UTC().Format(time.DateOnly)
		name := blockstream.FileName(blk.Number, blockstream.Zstd)
		if err := os.MkdirAll(filepath.Join(records, day), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(records, day, name), blk.Zstd(), 0o644); err != nil {
			b.Fatal(err)
		}
		job, err := intake.NewJob(day, name, "3")
		if err != nil {
			b.Fatal(err)
		}
		jobs = append(jobs, job)
	}
	out := b.TempDir()
	p, err := New(Config{RecordDir: records, OutputDir: out, Concurrency: 1}, nil, nil, nil, zap.NewNop(), NewMetrics(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	defer zd.Close()

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	const rounds = 3
	var txs, stored int
	var floor, parse time.Duration
	var plain []byte
	var heapFirst, heapLast uint64
	for r := range rounds {
		t0 := time.Now()
		for _, j := range jobs {
			data, err := os.ReadFile(filepath.Join(records, j.Day, j.Name))
			if err != nil {
				b.Fatal(err)
			}
			if plain, err = zd.DecodeAll(data, plain[:0]); err != nil {
				b.Fatal(err)
			}
			sum := sha512.Sum384(plain)
			_ = sum
		}
		floor += time.Since(t0)
		for i, j := range jobs {
			t0 = time.Now()
			d, data, err := p.decode(j)
			if err != nil {
				b.Fatal(err)
			}
			f := p.stateFile(d)
			if err := p.writeNDJSON(d, f); err != nil {
				b.Fatal(err)
			}
			if err := p.writeBlockNDJSON(d, p.blockDocument(d, f)); err != nil {
				b.Fatal(err)
			}
			txs += len(d.docs)
			stored += len(data)
			p.release(d)
			parse += time.Since(t0)
			if r == 0 && i == 0 {
				heapFirst = heap()
			}
		}
	}
	heapLast = heap()
	b.StopTimer()
	rate := float64(txs) / parse.Seconds()
	floorRate := float64(txs) / floor.Seconds()
	fmt.Printf("record-parser blocks: %d transactions (%d generated blocks of %d, %d MB as .blk.zstd, %d rounds, every root hash computed) to NDJSON on one core in %.2fs = %.0f tx/s (target ≥ 150,000), %.2fx the read+zstd+SHA-384 floor (%.0f tx/s in %.2fs); heap after the first block %d MB, after the last %d MB\n",
		txs, blocks, perBlock, stored>>20, rounds, parse.Seconds(), rate, rate/floorRate, floorRate, floor.Seconds(), heapFirst>>20, heapLast>>20)
	b.ReportMetric(rate, "tx/s")
	b.ReportMetric(rate/floorRate, "x_floor")
}
