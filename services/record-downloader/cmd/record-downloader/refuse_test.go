package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// generated writes blocks 0…n-1 of a generated stream and returns them.
// Their proofs are TSS-shaped signatures no key made (nothing checks
// them without a ledger id: only the chain binds the blocks), or with
// placeholder the SHA-384(root) of a network with TSS off (which binds
// each block's root hash).
func generated(t *testing.T, n int, seed uint64, placeholder bool) []*blockgen.Block {
	t.Helper()
	g := blockgen.New(blockgen.Options{Placeholder: placeholder, Seed: seed, Transactions: 5})
	out := make([]*blockgen.Block, n)
	for i := range out {
		b, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// zstdOf compresses a serialized block as the buckets store it.
func zstdOf(plain []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	return enc.EncodeAll(plain, nil)
}

// alterItem returns plain with fn applied to the payload of the first
// item of kind k (the item stays well formed: same length).
func alterItem(t *testing.T, plain []byte, k blockstream.Kind, fn func(payload []byte)) []byte {
	t.Helper()
	out := bytes.Clone(plain)
	for off := 0; off < len(out); {
		_, _, n := protowire.ConsumeTag(out[off:])
		item, m := protowire.ConsumeBytes(out[off+n:])
		itemStart := off + n + m - len(item)
		num, _, tn := protowire.ConsumeTag(item)
		if blockstream.Kind(num) == k {
			payload, pn := protowire.ConsumeBytes(item[tn:])
			if pn < 0 {
				t.Fatalf("item %s is not length-delimited", k)
			}
			start := itemStart + tn + pn - len(payload)
			fn(out[start : start+len(payload)])
			return out
		}
		off += n + m
	}
	t.Fatalf("no %s item", k)
	return nil
}

// A block that does not verify is not written and the position does not
// move past it: the run fails naming it, the copy is quarantined with its
// reason, and once the bucket holds the right block the stream goes on
// from where it stopped.
func TestBlocksRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		// bad is what the bucket serves as block 3.
		bad func(t *testing.T, blocks []*blockgen.Block) []byte
		// written is how many blocks (from 0) are written before it.
		written     int
		reason      string
		say         string
		placeholder bool
	}{
		{"tampered item, placeholder proof", func(t *testing.T, bs []*blockgen.Block) []byte {
			return zstdOf(alterItem(t, bs[3].Plain, blockstream.KindSignedTransaction, func(p []byte) { p[len(p)-1] ^= 1 }))
		}, 2, "proof", "block 3", true},
		{"tampered item", func(t *testing.T, bs []*blockgen.Block) []byte {
			return zstdOf(alterItem(t, bs[3].Plain, blockstream.KindSignedTransaction, func(p []byte) { p[len(p)-1] ^= 1 }))
		}, 3, "chain_broken", "block 4", false},
		{"wrong footer", func(t *testing.T, bs []*blockgen.Block) []byte {
			return zstdOf(alterItem(t, bs[3].Plain, blockstream.KindBlockFooter, func(p []byte) { p[10] ^= 1 }))
		}, 2, "chain_broken", "block 3", false},
		{"skipped number", func(t *testing.T, bs []*blockgen.Block) []byte {
			return zstdOf(bs[4].Plain) // the stream going from 2 to 4
		}, 2, "misnamed", "block 3", false},
		{"misnamed object", func(t *testing.T, bs []*blockgen.Block) []byte {
			return zstdOf(bs[0].Plain)
		}, 2, "misnamed", "block 3", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newBlockEnv(t)
			bs := generated(t, 7, 1, c.placeholder)
			for _, b := range bs {
				data := b.Zstd()
				if b.Number == 3 {
					data = c.bad(t, bs)
				}
				e.putGCS(blocksrc.Key("mainnet", b.Number), data)
			}
			args := e.blockArgs("START_BLOCK=0", "BLOCK_TSS_PLACEHOLDER=true")
			if !c.placeholder {
				args = e.blockArgs("START_BLOCK=0")
			}
			code, stderr := e.run(binary, nil, args...)
			if code != 1 || !strings.Contains(stderr, c.say) || !strings.Contains(stderr, "refused") {
				t.Fatalf("exit %d, want 1 and a log naming %s as refused:\n%s", code, c.say, stderr)
			}
			if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(bs[:c.written]), " ") {
				t.Fatalf("written %v, want %v", got, wantFlat(bs[:c.written]))
			}
			if n := len(e.blockEvents()); n != c.written {
				t.Errorf("%d block events, want %d", n, c.written)
			}
			q, _ := filepath.Glob(filepath.Join(e.dest, "_quarantine", "blocks", "0000000000000000003-*.reason"))
			if len(q) != 1 {
				t.Fatalf("quarantine holds %v, want block 3's copy with its reason", q)
			}
			reason, _ := os.ReadFile(q[0])
			if !strings.Contains(string(reason), "reason: "+c.reason) {
				t.Errorf("reason file says %q, want %s", reason, c.reason)
			}
			// The right block 3 arrives: the stream goes on from the
			// position, block 6 waiting for block 7.
			e.putGCS(blocksrc.Key("mainnet", 3), bs[3].Zstd())
			if code, stderr := e.run(binary, nil, args...); code != 0 {
				t.Fatalf("after the repair: exit %d: %s", code, stderr)
			}
			if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(bs[:6]), " ") {
				t.Errorf("after the repair, written %v, want %v", got, wantFlat(bs[:6]))
			}
			evs := e.blockEvents()
			for i, ev := range evs {
				if ev.BlockNumber != uint64(i) || ev.RootHash != bs[i].Root.String() {
					t.Errorf("event %d: block %d root %s, want block %d root %s", i, ev.BlockNumber, ev.RootHash, i, bs[i].Root)
				}
			}
		})
	}
}

// The GCS and S3 copies disagree on block 3 (the S3 copy is another
// stream's block 3, well formed): blocks 0…2 are written, confirmed by
// the second copy; block 3 is not, the run fails naming it and both
// sources, and the position stays at 2.
func TestTwoSourcesDisagree(t *testing.T) {
	e := newBlockEnv(t)
	e.withS3()
	bs := generated(t, 6, 1, true)
	other := generated(t, 6, 2, true)
	for _, b := range bs {
		e.putGCS(blocksrc.Key("mainnet", b.Number), b.Zstd())
		s3 := b.Zstd()
		if b.Number == 3 {
			s3 = other[3].Zstd()
		}
		e.putS3(blocksrc.Key("mainnet", b.Number), s3)
	}
	args := append([]string{"BLOCK_BUCKETS=gs://" + e.gcsBlocks + ",s3://" + e.s3.Name, "BLOCK_SOURCE=bucket", "START_BLOCK=0",
		"S3_REQUESTER_PAYS=false", "BLOCK_TSS_PLACEHOLDER=true"}, e.s3Env()...)
	code, stderr := e.run(binary, nil, args...)
	if code != 1 || !strings.Contains(stderr, "block 3") || !strings.Contains(stderr, "sources disagree") ||
		!strings.Contains(stderr, bs[3].Root.String()) || !strings.Contains(stderr, other[3].Root.String()) {
		t.Fatalf("exit %d, want 1 naming block 3 and both root hashes:\n%s", code, stderr)
	}
	if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(bs[:3]), " ") {
		t.Fatalf("written %v, want %v", got, wantFlat(bs[:3]))
	}
	for _, ev := range e.blockEvents() {
		if ev.Verification != "confirmed" || ev.ConfirmedBy != "s3://"+e.s3.Name {
			t.Errorf("block %d: %s by %q, want confirmed by the S3 copy", ev.BlockNumber, ev.Verification, ev.ConfirmedBy)
		}
	}
	// Each source took its turn as the one read (3 failures, then the
	// other): both copies of block 3 are kept.
	if q, _ := filepath.Glob(filepath.Join(e.dest, "_quarantine", "blocks", "0000000000000000003-*.reason")); len(q) != 2 {
		t.Errorf("quarantine holds %v, want block 3 as each source served it", q)
	}
}
