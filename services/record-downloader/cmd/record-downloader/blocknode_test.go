package main

import (
	"strings"
	"testing"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/blocknode"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// BLOCK_SOURCE=auto takes blocks from the block node while it serves them
// and falls back to the bucket when it fails: a node that stalls, ends
// its stream in the middle of a block, or serves an altered block. Every
// block written is the stream's, whichever source served it, once.
func TestBlockNodeFaultsFallBackToTheBucket(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault blocknode.Fault
		// fromNode is how many blocks the node serves before the fault
		// makes the downloader leave it.
		fromNode int
	}{
		{"stall", blocknode.Fault{Kind: blocknode.Stall, Block: 3}, 2},
		{"end mid-block", blocknode.Fault{Kind: blocknode.EndMidBlock, Block: 3}, 2},
		{"dies mid-block", blocknode.Fault{Kind: blocknode.Die, Block: 3}, 2},
		// The altered block 3 names block 2 as its previous: 2 is taken,
		// 3 is refused when block 4 does not name its root hash.
		{"wrong block", blocknode.Fault{Kind: blocknode.Tamper, Block: 3}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newBlockEnv(t)
			bn := testkit.BlockNode(t)
			bs := generated(t, 7, 1, false)
			for _, b := range bs {
				if _, err := bn.Add(b.Plain); err != nil {
					t.Fatal(err)
				}
				e.putGCS(blocksrc.Key("mainnet", b.Number), b.Zstd())
			}
			bn.Inject(c.fault)
			code, stderr := e.run(binary, nil, "BLOCK_BUCKETS=gs://"+e.gcsBlocks, "BLOCK_NODES="+bn.Addr(), "BLOCK_SOURCE=auto",
				"BLOCK_CONFIRM=false", "START_BLOCK=0", "BLOCK_NODE_STALL_TIMEOUT=2", "LOG_LEVEL=info")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "block source switched") {
				t.Errorf("the log does not tell the switch to the bucket:\n%s", stderr)
			}
			// Block 6 waits for block 7 to name its root hash.
			if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(bs[:6]), " ") {
				t.Fatalf("written %v, want %v", got, wantFlat(bs[:6]))
			}
			evs := e.blockEvents()
			if len(evs) != 6 {
				t.Fatalf("%d block events, want 6", len(evs))
			}
			for i, ev := range evs {
				want := "gs://" + e.gcsBlocks
				if i < c.fromNode {
					want = "block-node://" + bn.Addr()
				}
				if ev.BlockNumber != uint64(i) || ev.RootHash != bs[i].Root.String() || ev.Source != want {
					t.Errorf("event %d: block %d root %s from %s; want block %d root %s from %s", i, ev.BlockNumber, ev.RootHash, ev.Source, i, bs[i].Root, want)
				}
			}
		})
	}
}

// A block node alone (BLOCK_SOURCE=block-node) that serves the stream in
// item sets of a few items: every block joined byte for byte, verified
// and written; blocks a node does not hold yet end the pass.
func TestBlockNodeOnly(t *testing.T) {
	e := newBlockEnv(t)
	bn := testkit.BlockNode(t)
	bn.SetItemsPerSet(3)
	bs := generated(t, 5, 3, false)
	for _, b := range bs {
		if _, err := bn.Add(b.Plain); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"BLOCK_BUCKETS=none", "BLOCK_NODES=" + bn.Addr(), "BLOCK_SOURCE=block-node", "START_BLOCK=0", "BLOCK_NODE_STALL_TIMEOUT=2"}
	if code, stderr := e.run(binary, nil, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(bs[:4]), " ") {
		t.Fatalf("written %v, want %v", got, wantFlat(bs[:4]))
	}
	for i, ev := range e.blockEvents() {
		if ev.RootHash != bs[i].Root.String() || ev.Object != "" || ev.Bucket != "" {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
}
