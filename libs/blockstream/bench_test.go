package blockstream_test

import (
	"crypto/sha512"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
)

// BenchmarkReadAndRootHash is the block reader's share of the parser's
// budget: generated .blk.zstd blocks of 10,000 mixed transactions
// decompressed, split into items (header and footer decoded, the shape
// checked) and root-hashed, on one core, beside the floor measured in the
// same run: zstd decoding the same blocks and one SHA-384 over each
// block's bytes. The parser's target for the whole parse to NDJSON is
// ≥ 150,000 tx/s on one core, so the reader must cost a small part of
// that. The root hash hashes every item (H(0x00‖item)) and the tree above
// them, about twice the floor's SHA-384 work; the ratio shows what walking
// the items adds. Allocations per block are printed: none is per item.
// The machine is shared: absolute figures are noisy, the ratio less so.
func BenchmarkReadAndRootHash(b *testing.B) {
	const blocks, txs, rounds = 3, 10_000, 5
	g := blockgen.New(blockgen.Options{Transactions: txs, Seed: 42})
	type stored struct {
		name string
		data []byte
		root blockstream.Hash
	}
	var files []stored
	plainBytes := 0
	for range blocks {
		gb, err := g.Next()
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, stored{gb.ObjectPath(), gb.Zstd(), gb.Root})
		plainBytes += len(gb.Plain)
	}
	compressed := 0
	for _, f := range files {
		compressed += len(f.data)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	reader := blockstream.NewReader(blockstream.DefaultLimits)
	hasher := blockstream.NewHasher()
	var floorBuf, readBuf []byte
	var floor, read, unzstd, split, hashing time.Duration
	var mallocs uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for range rounds {
		t0 := time.Now()
		for _, f := range files {
			if floorBuf, err = dec.DecodeAll(f.data, floorBuf[:0]); err != nil {
				b.Fatal(err)
			}
			_ = sha512.Sum384(floorBuf)
		}
		floor += time.Since(t0)

		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		t0 = time.Now()
		for _, f := range files {
			t1 := time.Now()
			plain, err := reader.Decompress(f.name, f.data, readBuf)
			if err != nil {
				b.Fatal(err)
			}
			readBuf = plain
			t2 := time.Now()
			blk, err := reader.ParsePlain(f.name, plain)
			if err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			root, err := hasher.RootHash(blk, blockstream.AlgorithmFor(blk))
			if err != nil {
				b.Fatal(err)
			}
			t4 := time.Now()
			unzstd, split, hashing = unzstd+t2.Sub(t1), split+t3.Sub(t2), hashing+t4.Sub(t3)
			if root != f.root || blk.Transactions() != txs {
				b.Fatalf("%s: root %s, %d transactions", f.name, root, blk.Transactions())
			}
		}
		read += time.Since(t0)
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
	}
	b.StopTimer()
	n := float64(blocks * txs * rounds)
	rate, floorRate := n/read.Seconds(), n/floor.Seconds()
	fmt.Printf("blockstream: %d blocks of %d transactions (%d MB, %d MB zstd) × %d rounds, read + root hash on one core: %.0f tx/s (%.2f ms a block), %.2fx the zstd + SHA-384 floor (%.0f tx/s); %d allocations a block; of the reader's time zstd %.0f%%, splitting items %.0f%%, root hash %.0f%%\n",
		blocks, txs, plainBytes>>20, compressed>>20, rounds, rate, read.Seconds()*1000/float64(blocks*rounds), rate/floorRate, floorRate, mallocs/uint64(blocks*rounds),
		100*unzstd.Seconds()/read.Seconds(), 100*split.Seconds()/read.Seconds(), 100*hashing.Seconds()/read.Seconds())
	b.ReportMetric(rate, "tx/s")
	b.ReportMetric(rate/floorRate, "x_floor")
}
