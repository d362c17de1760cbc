package blockgen_test

import (
	"errors"
	"testing"
	"time"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
)

// verifyAll reads every block back from its .blk.zstd bytes under its
// object name, chains it and verifies its proof, as a downloader does with
// real files.
func verifyAll(t *testing.T, v blockstream.Verifier, chain *blockstream.Chain, blocks []*blockgen.Block) []blockstream.Verdict {
	t.Helper()
	var out []blockstream.Verdict
	for _, gb := range blocks {
		b, err := blockstream.Parse(gb.ObjectPath(), gb.Zstd())
		if err != nil {
			t.Fatalf("block %d: %v", gb.Number, err)
		}
		root, alg, err := b.RootHash()
		if err != nil || root != gb.Root || alg != gb.Algorithm {
			t.Fatalf("block %d: root %s %s (%v), generated %s %s", gb.Number, root, alg, err, gb.Root, gb.Algorithm)
		}
		if err := chain.Append(b, root); err != nil {
			t.Fatalf("block %d: %v", gb.Number, err)
		}
		verdict, err := v.Verify(b, root, alg)
		if err != nil {
			t.Fatalf("block %d: %v", gb.Number, err)
		}
		got := b.Transactions()
		if b.Wrapped {
			got = len(verdict.Wrapped.File.Items)
		}
		if got != gb.Transactions || b.Wrapped != gb.Wrapped {
			t.Errorf("block %d: %d transactions (wrapped %v), generated %d", gb.Number, got, b.Wrapped, gb.Transactions)
		}
		out = append(out, verdict)
	}
	return out
}

// Blocks under both algorithms read, chain and verify: 0.80 blocks by
// sixteen leaves with a TSS-shaped proof (structure-checked against the
// stream's ledger id), 0.73 blocks by eight with the TSS-off placeholder.
func TestBlocksUnderBothAlgorithms(t *testing.T) {
	for _, c := range []struct {
		hapi        blockstream.Version
		placeholder bool
		alg         blockstream.Algorithm
		level       blockstream.Level
	}{
		{blockstream.Version{Minor: 80}, false, blockstream.SixteenLeaf, blockstream.LevelTSSStructure},
		{blockstream.Version{Minor: 73}, true, blockstream.EightLeaf, blockstream.LevelTSSPlaceholder},
	} {
		g := blockgen.New(blockgen.Options{HAPI: c.hapi, Placeholder: c.placeholder, Transactions: 95})
		var blocks []*blockgen.Block
		for range 4 {
			b, err := g.Next()
			if err != nil {
				t.Fatal(err)
			}
			if b.Algorithm != c.alg || b.Transactions != 95 {
				t.Fatalf("HAPI %s: %s, %d transactions", c.hapi, b.Algorithm, b.Transactions)
			}
			blocks = append(blocks, b)
		}
		v := &blockstream.ProofVerifier{Ledger: g.Ledger(), AllowPlaceholder: c.placeholder}
		for _, verdict := range verifyAll(t, v, &blockstream.Chain{}, blocks) {
			if verdict.Level != c.level {
				t.Errorf("HAPI %s block %d: %s, want %s", c.hapi, verdict.Number, verdict.Level, c.level)
			}
		}
		// Under the other algorithm the chain breaks at once.
		b0, _ := blockstream.Parse(blocks[0].ObjectPath(), blocks[0].Zstd())
		b1, _ := blockstream.Parse(blocks[1].ObjectPath(), blocks[1].Zstd())
		other := blockstream.EightLeaf
		if c.alg == other {
			other = blockstream.SixteenLeaf
		}
		h0, _ := b0.RootHashWith(other)
		chain := &blockstream.Chain{}
		chain.Append(b0, h0)
		h1, _, _ := b1.RootHash()
		if err := chain.Append(b1, h1); !errors.Is(err, blockstream.ErrChainBroken) {
			t.Errorf("HAPI %s under %s: %v", c.hapi, other, err)
		}
	}
}

// A record stream continues as wrapped record blocks, signed by the
// stream's nodes and verified with its address book, and then as blocks
// whose first names the last wrapped block's root: the cutover's anchor.
// A node's forged signature counts for nothing; too many break consensus.
func TestCutoverFromWrappedRecordBlocks(t *testing.T) {
	net, err := streamgen.NewNetwork(4)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)
	records := net.Stream(streamgen.Options{Start: start, FirstBlock: 100, Mixed: true, Items: 30, SidecarEvery: 2})
	g := blockgen.New(blockgen.Options{FirstBlock: 100, Transactions: 50})
	var blocks []*blockgen.Block
	for i := range 3 {
		f, err := records.Next()
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := f.SetFault("0.0.4", streamgen.BadSignature); err != nil {
				t.Fatal(err)
			}
		}
		b, err := g.Wrap(net, f)
		if err != nil {
			t.Fatal(err)
		}
		if !b.Wrapped || b.Number != uint64(100+i) || b.Algorithm != blockstream.SixteenLeaf || b.Transactions != 30 {
			t.Fatalf("wrapped block %d: %+v", i, b)
		}
		blocks = append(blocks, b)
	}
	anchor := g.PreviousRoot()
	for range 2 {
		b, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	v := &blockstream.ProofVerifier{Books: recordstream.NewBookHistory(net.Book(), "generated"), Ledger: g.Ledger()}
	verdicts := verifyAll(t, v, &blockstream.Chain{}, blocks)
	for i, verdict := range verdicts[:3] {
		want := 4
		if i == 1 {
			want = 3
		}
		if verdict.Level != blockstream.LevelRSASigned || len(verdict.Signers) != want || verdict.Wrapped.File.BlockNumber != int64(100+i) {
			t.Errorf("wrapped block %d: %s signers %v", 100+i, verdict.Level, verdict.Signers)
		}
		if i%2 == 0 && len(verdict.Wrapped.Sidecars) != 1 {
			t.Errorf("wrapped block %d carries %d sidecars", 100+i, len(verdict.Wrapped.Sidecars))
		}
	}
	if verdicts[3].Level != blockstream.LevelTSSStructure || blocks[3].Number != 103 {
		t.Errorf("first block after the wrapped ones: %d %s", blocks[3].Number, verdicts[3].Level)
	}
	// Anchored on the last wrapped block, the blocks chain on.
	b3, _ := blockstream.Parse(blocks[3].ObjectPath(), blocks[3].Zstd())
	if err := blockstream.NewChain(blockstream.Link{Number: 102, Root: anchor}).Append(b3, blocks[3].Root); err != nil {
		t.Fatalf("anchor: %v", err)
	}

	// Three of four nodes forge: one signature is short of a third.
	f, err := records.Next()
	if err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{"0.0.3", "0.0.4", "0.0.5"} {
		f.SetFault(acct, streamgen.BadSignature)
	}
	g2 := blockgen.New(blockgen.Options{FirstBlock: uint64(f.Record.BlockNumber)})
	wb, err := g2.Wrap(net, f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blockstream.Parse(wb.ObjectPath(), wb.Zstd())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(b, wb.Root, wb.Algorithm); !errors.Is(err, blockstream.ErrProof) || !errors.Is(err, recordstream.ErrNoConsensus) {
		t.Errorf("three forged signatures: %v", err)
	}
}
