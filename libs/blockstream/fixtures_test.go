package blockstream

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Every current-era block file and wrapped record block of the fixtures is
// read with the values blockstreams-expected.json publishes for it: number,
// versions, timestamp, size, items by kind, rounds, transactions, consensus
// range, footer, and its root hash under both algorithms, the one its version
// selects being the one its chain confirms.
func TestFixtureBlocks(t *testing.T) {
	root, doc := loadExpected(t)
	read := 0
	for _, name := range sortedNames(doc) {
		want := doc.Files[name]
		if !want.current() || strings.HasSuffix(name, "039.blk.zstd") {
			continue // TestPreReleaseBlocksRefused, TestTransactionOutsideEventRefused
		}
		read++
		t.Run(name, func(t *testing.T) {
			b, err := readFixtureBlock(t, root, name)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if b.Number() != want.BlockNumber {
				t.Errorf("number %d, want %d", b.Number(), want.BlockNumber)
			}
			if got := b.Header.HAPI.String(); got != want.HAPI {
				t.Errorf("HAPI %s, want %s", got, want.HAPI)
			}
			if want.Software != nil && b.Header.Software.String() != *want.Software {
				t.Errorf("software %s, want %s", b.Header.Software, *want.Software)
			}
			if b.Header.TimestampNs != want.TimestampNs {
				t.Errorf("timestamp %d, want %d", b.Header.TimestampNs, want.TimestampNs)
			}
			if b.Size != want.SizeUncompr {
				t.Errorf("size %d, want %d", b.Size, want.SizeUncompr)
			}
			if len(b.Items) != want.ItemsTotal {
				t.Errorf("%d items, want %d", len(b.Items), want.ItemsTotal)
			}
			total := 0
			for kind, n := range want.ItemsByKind {
				total += n
				if got := b.Count(kindByName(t, kind)); got != n {
					t.Errorf("%s: %d items, want %d", kind, got, n)
				}
			}
			if total != len(b.Items) {
				t.Errorf("expected kinds add up to %d items, the block has %d", total, len(b.Items))
			}
			if len(b.Proofs()) != want.ProofItems {
				t.Errorf("%d proofs, want %d", len(b.Proofs()), want.ProofItems)
			}
			if b.Wrapped != (want.Format == "wrapped record block") {
				t.Errorf("wrapped %v, format %q", b.Wrapped, want.Format)
			}
			if want.Transactions != nil && b.Transactions() != want.Transactions.Count {
				t.Errorf("%d transactions, want %d", b.Transactions(), want.Transactions.Count)
			}
			if want.RoundStart != nil {
				first, last, ok, err := b.Rounds()
				if err != nil || !ok || first != *want.RoundStart || last != *want.RoundEnd {
					t.Errorf("rounds %d–%d (%v, %v), want %d–%d", first, last, ok, err, *want.RoundStart, *want.RoundEnd)
				}
			}
			if want.FirstConsensus != nil && !b.Wrapped {
				start, end, err := b.ConsensusRange()
				if err != nil || start != *want.FirstConsensus || end != *want.LastConsensus {
					t.Errorf("consensus %d–%d (%v), want %d–%d", start, end, err, *want.FirstConsensus, *want.LastConsensus)
				}
			}
			if got := hexOf(b.Footer.PreviousRootHash); got != want.PreviousHash || got != want.Footer.Previous {
				t.Errorf("previous hash %s, want %s", got, want.PreviousHash)
			}
			if hexOf(b.Footer.RootOfAllBlockHashes) != want.Footer.AllPrev || hexOf(b.Footer.StartOfBlockStateRootHash) != want.Footer.State {
				t.Errorf("footer %x %x, want %s %s", b.Footer.RootOfAllBlockHashes, b.Footer.StartOfBlockStateRootHash, want.Footer.AllPrev, want.Footer.State)
			}
			for _, a := range []Algorithm{EightLeaf, SixteenLeaf} {
				h, err := b.RootHashWith(a)
				if err != nil {
					t.Fatalf("%s root: %v", a, err)
				}
				if w := want.hashUnder(a); h.String() != w {
					t.Errorf("%s root %s, want %s", a, h, w)
				}
			}
			// The algorithm the version selects: the era's, whose chains
			// verify; a wrapped block always 16-leaf (the block node's
			// cutover design, and the SOLO_4N chain).
			h, a, err := b.RootHash()
			if err != nil {
				t.Fatal(err)
			}
			wantAlg := EightLeaf
			if want.Era == "BN16" || b.Wrapped {
				wantAlg = SixteenLeaf
			}
			if a != wantAlg || h.String() != want.hashUnder(wantAlg) {
				t.Errorf("selected %s %s, want %s %s", a, h, wantAlg, want.hashUnder(wantAlg))
			}
		})
	}
	if read < 20 {
		t.Fatalf("only %d current-era block files", read)
	}
}

// Every consecutive pair of current-era fixtures chains: the root hash of
// N, by the algorithm N's version selects, is N+1's previous hash, and a
// Chain accepts the pair in order; each chain holds under its own algorithm
// only.
func TestFixtureChains(t *testing.T) {
	root, doc := loadExpected(t)
	checked := 0
	for _, c := range doc.Chains {
		prevWant, nextWant := doc.Files[c.Previous], doc.Files[c.Next]
		if !prevWant.current() {
			continue
		}
		checked++
		t.Run(c.Previous+"→"+base(c.Next), func(t *testing.T) {
			prev, err := readFixtureBlock(t, root, c.Previous)
			if err != nil {
				t.Fatal(err)
			}
			next, err := readFixtureBlock(t, root, c.Next)
			if err != nil {
				t.Fatal(err)
			}
			h, a, err := prev.RootHash()
			if err != nil {
				t.Fatal(err)
			}
			if h.String() != c.RootHash || !c.Equal || hexOf(next.Footer.PreviousRootHash) != c.RootHash {
				t.Fatalf("root of %d (%s) %s, published %s, next's previous %x", prev.Number(), a, h, c.RootHash, next.Footer.PreviousRootHash)
			}
			other := EightLeaf
			if a == EightLeaf {
				other = SixteenLeaf
			}
			if h2, _ := prev.RootHashWith(other); h2 == h || hexOf(next.Footer.PreviousRootHash) == h2.String() {
				t.Errorf("the chain also holds under %s: the fixture cannot tell the algorithms apart", other)
			}
			chain := &Chain{}
			if err := chain.Append(prev, h); err != nil {
				t.Fatal(err)
			}
			nh, _, err := next.RootHash()
			if err != nil {
				t.Fatal(err)
			}
			if err := chain.Append(next, nh); err != nil {
				t.Fatalf("chain refused %d after %d: %v", next.Number(), prev.Number(), err)
			}
			if l, _ := chain.Last(); l.Number != nextWant.BlockNumber || l.Root != nh {
				t.Errorf("chain ends at %d %s", l.Number, l.Root)
			}
		})
	}
	if checked < 8 {
		t.Fatalf("only %d current-era chain links", checked)
	}
}

// The pre-release streams (CN 0.57–0.69, local networks only) are refused
// as unsupported, each error naming the file and its version.
func TestPreReleaseBlocksRefused(t *testing.T) {
	root, doc := loadExpected(t)
	n := 0
	for _, name := range sortedNames(doc) {
		want := doc.Files[name]
		if want.current() {
			continue
		}
		n++
		_, err := readFixtureBlock(t, root, name)
		var be *Error
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &be) || be.Name != name || !strings.Contains(err.Error(), want.HAPI) {
			t.Errorf("%s (HAPI %s): %v, want ErrUnsupported naming the file and version", name, want.HAPI, err)
		}
	}
	if n < 15 {
		t.Fatalf("only %d pre-release fixtures", n)
	}
}

// CN 0.71.1 block 68228039 carries transactions outside any event; the
// mirror node's reader refuses it (readMalformedBlock) and so does this one.
func TestTransactionOutsideEventRefused(t *testing.T) {
	root, _ := loadExpected(t)
	name := "hedera-mirror-node/blockstreams/history/fa80305e1e76/039.blk.zstd"
	_, err := readFixtureBlock(t, root, name)
	var be *Error
	if !errors.Is(err, ErrMalformed) || !errors.As(err, &be) || be.Number != 68228039 || be.Item != 2 || !strings.Contains(err.Error(), "outside an event") {
		t.Fatalf("got %v, want ErrMalformed for block 68228039 item 2", err)
	}
}

func kindByName(t *testing.T, name string) Kind {
	t.Helper()
	for k, s := range kindNames {
		if s == name {
			return k
		}
	}
	t.Fatalf("no item kind %q", name)
	return 0
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
