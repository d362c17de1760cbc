package blockstream

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	legacyDir = "hiero-block-node/test-blocks/CN_0_73_TSS_WRAPS_LEGACY/"
	mn007     = "hedera-mirror-node/blockstreams/0000/0000/0000/0000/007.blk.zstd"
	mn008     = "hedera-mirror-node/blockstreams/0000/0000/0000/0000/008.blk.zstd"
)

// plainFixture is a fixture block's serialized Block.
func plainFixture(t testing.TB, root, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := defaultReader().Decompress(name, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), plain...)
}

func parseHashed(t *testing.T, name string, plain []byte) (*Block, Hash) {
	t.Helper()
	b, err := defaultReader().ParsePlain(name, plain)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	h, _, err := b.RootHash()
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

// wantBlockErr checks err wraps reason and names block number.
func wantBlockErr(t *testing.T, err, reason error, number int64, mentions ...string) {
	t.Helper()
	var be *Error
	if !errors.Is(err, reason) || !errors.As(err, &be) || be.Number != number {
		t.Fatalf("got %v, want %v naming block %d", err, reason, number)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%q does not mention %q", err, m)
		}
	}
}

// One byte changed inside a transaction of block 1 still reads (the wire
// format is intact) but changes its root hash, so block 2, whose footer
// names the true root of block 1, is refused as not following it.
func TestTamperedItemBreaksTheChain(t *testing.T) {
	root, _ := loadExpected(t)
	b0, h0 := parseHashed(t, "0.blk.gz", plainFixture(t, root, legacyDir+"0.blk.gz"))
	plain1 := plainFixture(t, root, legacyDir+"1.blk.gz")
	_, trueRoot1 := parseHashed(t, "1.blk.gz", plain1)
	b1, _ := parseHashed(t, "1.blk.gz", plain1)
	tampered := false
	for _, it := range b1.Items {
		if it.Kind == KindSignedTransaction {
			it.Payload[len(it.Payload)-1] ^= 0x01 // inside the signature map's bytes
			tampered = true
			break
		}
	}
	if !tampered {
		t.Fatal("block 1 has no signed transaction")
	}
	b1t, h1t := parseHashed(t, "1.blk.gz", plain1)
	if h1t == trueRoot1 {
		t.Fatal("a changed item left the root hash as it was")
	}
	b2, h2 := parseHashed(t, "2.blk.gz", plainFixture(t, root, legacyDir+"2.blk.gz"))
	c := &Chain{}
	if err := c.Append(b0, h0); err != nil {
		t.Fatal(err)
	}
	if err := c.Append(b1t, h1t); err != nil {
		t.Fatalf("block 1's own footer still names block 0: %v", err)
	}
	wantBlockErr(t, c.Append(b2, h2), ErrChainBroken, 2, "block 1", h1t.String())
}

// A footer whose previous hash is not the previous block's root is refused.
func TestWrongFooterRefused(t *testing.T) {
	root, _ := loadExpected(t)
	b7, h7 := parseHashed(t, mn007, plainFixture(t, root, mn007))
	plain8 := plainFixture(t, root, mn008)
	b8, _ := parseHashed(t, mn008, plain8)
	b8.Footer.PreviousRootHash[5] ^= 0x80 // aliases plain8
	b8, h8 := parseHashed(t, mn008, plain8)
	c := NewChain(Link{Number: 7, Root: h7})
	wantBlockErr(t, c.Append(b8, h8), ErrChainBroken, 8, "not block 7's root hash")
	if l, _ := c.Last(); l.Number != 7 {
		t.Errorf("a refused block moved the chain to %d", l.Number)
	}
	_ = b7
}

// A skipped number, a repeated one and block 0 with a previous hash are
// refused.
func TestSkippedNumberRefused(t *testing.T) {
	root, _ := loadExpected(t)
	b0, h0 := parseHashed(t, "0.blk.gz", plainFixture(t, root, legacyDir+"0.blk.gz"))
	b2, h2 := parseHashed(t, "2.blk.gz", plainFixture(t, root, legacyDir+"2.blk.gz"))
	c := &Chain{}
	if err := c.Append(b0, h0); err != nil {
		t.Fatal(err)
	}
	wantBlockErr(t, c.Append(b2, h2), ErrChainBroken, 2, "block 2 after block 0")
	wantBlockErr(t, c.Append(b0, h0), ErrChainBroken, 0, "block 0 after block 0")

	b7, h7 := parseHashed(t, mn007, plainFixture(t, root, mn007))
	b7.Header.Number = 0
	wantBlockErr(t, (&Chain{}).Append(b7, h7), ErrChainBroken, 0, "empty hash")
}

// A block under a name with another number is refused, naming both.
func TestMisnamedFileRefused(t *testing.T) {
	root, _ := loadExpected(t)
	data, err := os.ReadFile(filepath.Join(root, mn008))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0000/0000/0000/0000/009.blk.zstd", "testnet/block/0000/0000/0000/0000/007.blk.zstd", "0000000000000000009.blk.zstd"} {
		_, err := Parse(name, data)
		wantBlockErr(t, err, ErrMisnamed, 8, "block 8")
	}
	if _, err := Parse("testnet/block/0000/0000/0000/0000/008.blk.zstd", data); err != nil {
		t.Fatalf("the right name: %v", err)
	}
	strict := NewReader(DefaultLimits)
	strict.RequireBlockName = true
	if _, err := strict.Parse("8.blk.zstd", data); !errors.Is(err, ErrMisnamed) {
		t.Fatalf("a reader that requires block names took 8.blk.zstd: %v", err)
	}
	if _, err := Parse("0000/0000/0000/0000/008.blk.gz", data); !errors.Is(err, ErrMalformed) {
		t.Fatalf("zstd bytes named .gz: %v", err)
	}
}

// allocated runs fn and reports the bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Blocks over the limits are refused before the memory for them is
// taken: too many items, too many bytes stored, and compressed streams
// that expand past the limit (declared in a zstd frame, or discovered while
// gunzipping).
func TestLimitsRefusedWithBoundedAllocation(t *testing.T) {
	root, _ := loadExpected(t)
	data, err := os.ReadFile(filepath.Join(root, mn007))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewReader(Limits{MaxItems: 79}).Parse(mn007, data); !errors.Is(err, ErrTooLarge) {
		t.Errorf("80 items under a limit of 79: %v", err)
	}
	if _, err := NewReader(Limits{MaxItems: 80}).Parse(mn007, data); err != nil {
		t.Errorf("80 items under a limit of 80: %v", err)
	}
	if _, err := NewReader(Limits{MaxBytes: 3998}).Read(mn007, bytes.NewReader(data)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("3999 bytes stored under a limit of 3998: %v", err)
	}
	if _, err := NewReader(Limits{MaxBytes: 5390}).Parse(mn007, data); !errors.Is(err, ErrTooLarge) {
		t.Errorf("5391 bytes decompressed under a limit of 5390: %v", err)
	}

	// Two million empty items: counted, refused at 800 001, and the item
	// slice (tens of megabytes) never allocated.
	many := bytes.Repeat([]byte{0x0a, 0x02, 0x1a, 0x00}, 2_000_000)
	var perr error
	n := allocated(func() { _, perr = Parse("many.blk", many) })
	if !errors.Is(perr, ErrTooLarge) || !strings.Contains(perr.Error(), "800000 items") {
		t.Fatalf("2 000 000 items: %v", perr)
	}
	if n > 1<<20 {
		t.Errorf("refusing 2 000 000 items allocated %d bytes", n)
	}

	zeros := make([]byte, 64<<20)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	bomb := enc.EncodeAll(zeros, nil)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(zeros)
	zw.Close()
	zeros = nil
	small := NewReader(Limits{MaxBytes: 1 << 20})
	for _, c := range []struct {
		name string
		data []byte
	}{{"0000000000000000001.blk.zstd", bomb}, {"0000000000000000001.blk.gz", gz.Bytes()}} {
		var err error
		n := allocated(func() { _, err = small.Parse(c.name, c.data) })
		wantBlockErr(t, err, ErrTooLarge, 1)
		// A buffer that doubles up to the limit and the decompressor's
		// own state stay under 8 MiB; reading the bomb whole would take
		// more than 64 MiB.
		t.Logf("%s: refused after allocating %d bytes", c.name, n)
		if n > 8<<20 {
			t.Errorf("%s: refusing 64 MiB under a 1 MiB limit allocated %d bytes", c.name, n)
		}
	}
}

// Items that cannot be verified, or are out of place, are refused as such.
func TestShapeRefused(t *testing.T) {
	root, _ := loadExpected(t)
	plain := plainFixture(t, root, mn007)
	b, _ := parseHashed(t, mn007, plain)
	// Rebuild the block from its items with one change, as the wire has it.
	rebuild := func(change func(i int, it Item) [][]byte) []byte {
		var out []byte
		for i, it := range b.Items {
			for _, raw := range change(i, it) {
				out = protowire.AppendTag(out, 1, protowire.BytesType)
				out = protowire.AppendBytes(out, raw)
			}
		}
		return out
	}
	item := func(k Kind, payload []byte) []byte {
		raw := protowire.AppendTag(nil, protowire.Number(k), protowire.BytesType)
		return protowire.AppendBytes(raw, payload)
	}
	same := func(_ int, it Item) [][]byte { return [][]byte{it.Raw} }
	if got, err := defaultReader().ParsePlain(mn007, rebuild(same)); err != nil || len(got.Items) != len(b.Items) {
		t.Fatalf("the block rebuilt as it was: %v", err)
	}
	last := len(b.Items) - 1
	cases := []struct {
		what   string
		change func(i int, it Item) [][]byte
		reason error
		says   string
	}{
		{"filtered item", func(i int, it Item) [][]byte {
			if i == 3 {
				return [][]byte{it.Raw, item(KindFilteredSingleItem, nil)}
			}
			return [][]byte{it.Raw}
		}, ErrUnsupported, "filtered_single_item"},
		{"unknown item 15", func(i int, it Item) [][]byte {
			if i == 3 {
				return [][]byte{it.Raw, item(15, nil)}
			}
			return [][]byte{it.Raw}
		}, ErrUnsupported, "unknown item field 15"},
		{"no header first", func(i int, it Item) [][]byte {
			if i == 0 {
				return nil
			}
			return [][]byte{it.Raw}
		}, ErrMalformed, "want block_header"},
		{"item after the footer", func(i int, it Item) [][]byte {
			if i == last {
				return [][]byte{item(KindStateChanges, nil), it.Raw}
			}
			return [][]byte{it.Raw}
		}, ErrMalformed, "after the block footer"},
		{"no proof", func(i int, it Item) [][]byte {
			if i == last {
				return nil
			}
			return [][]byte{it.Raw}
		}, ErrMalformed, "no block_proof"},
		{"two fields in one item", func(i int, it Item) [][]byte {
			if i == 3 {
				return [][]byte{append(append([]byte(nil), it.Raw...), item(KindRoundHeader, nil)...)}
			}
			return [][]byte{it.Raw}
		}, ErrMalformed, "more than one field"},
		{"record file in a block with events", func(i int, it Item) [][]byte {
			if i == 3 {
				return [][]byte{it.Raw, item(KindRecordFile, nil)}
			}
			return [][]byte{it.Raw}
		}, ErrMalformed, "wrapped record block with"},
	}
	for _, c := range cases {
		_, err := defaultReader().ParsePlain(mn007, rebuild(c.change))
		if !errors.Is(err, c.reason) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), mn007) {
			t.Errorf("%s: got %v, want %v saying %q", c.what, err, c.reason, c.says)
		}
	}
	// Cut anywhere inside, the block is truncated or malformed, never read.
	for cut := 1; cut < len(plain); cut += 97 {
		if _, err := defaultReader().ParsePlain(mn007, plain[:cut]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
}
