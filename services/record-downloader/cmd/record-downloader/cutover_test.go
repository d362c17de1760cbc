package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// cutoverStream is a record stream whose last files' wrapped record
// blocks and the blocks after them are in the block bucket, as the
// network leaves them at the cutover: record files 1…3 (v6, block numbers
// 1…3), wrapped record blocks 1…3, then blocks 4… whose first names the
// root hash of wrapped record block 3.
type cutoverStream struct {
	files   []*streamgen.File
	wrapped []*blockgen.Block
	blocks  []*blockgen.Block
	gen     *blockgen.Generator
}

func (e *blockEnv) cutoverStream(records, blocks int) *cutoverStream {
	e.t.Helper()
	cs := &cutoverStream{files: e.upload(records, streamgen.Options{})}
	cs.gen = blockgen.New(blockgen.Options{FirstBlock: 1, Placeholder: true})
	for _, f := range cs.files {
		w, err := cs.gen.Wrap(e.net, f)
		if err != nil {
			e.t.Fatal(err)
		}
		cs.wrapped = append(cs.wrapped, w)
		e.putGCS(blocksrc.Key("mainnet", w.Number), w.Zstd())
	}
	for range blocks {
		cs.next(e)
	}
	return cs
}

// next writes the stream's next block to the bucket.
func (cs *cutoverStream) next(e *blockEnv) *blockgen.Block {
	e.t.Helper()
	b, err := cs.gen.Next()
	if err != nil {
		e.t.Fatal(err)
	}
	cs.blocks = append(cs.blocks, b)
	e.putGCS(blocksrc.Key("mainnet", b.Number), b.Zstd())
	return b
}

// The downloader follows the record stream, notices it has stopped and
// that block 4 continues its numbering and chains on record file 3's
// wrapped record block, switches on its own, and writes blocks from 4 on:
// no gap, no record file doubled as a block. The switch is logged, counted
// and kept in the block position.
func TestCutoverFromRecordsToBlocks(t *testing.T) {
	e := newBlockEnv(t)
	cs := e.cutoverStream(3, 4)
	args := e.blockArgs("BLOCK_TSS_PLACEHOLDER=true", "LOG_LEVEL=info")
	code, stderr := e.run(binary, nil, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	recs := e.records()
	if len(recs) != 3 {
		t.Fatalf("record files written %v, want the 3 of the record stream", recs)
	}
	if !strings.Contains(stderr, "cutover") || !strings.Contains(stderr, stem(cs.files[2])) {
		t.Errorf("the log does not tell the cutover after %s:\n%s", stem(cs.files[2]), stderr)
	}
	// Block 7 waits for block 8 to name its root hash.
	got := e.blocksWritten()
	if strings.Join(got, " ") != strings.Join(wantFlat(cs.blocks[:3]), " ") {
		t.Fatalf("blocks written %v, want %v (4…6; no wrapped record block, their files are there as record files)", got, wantFlat(cs.blocks[:3]))
	}
	evs := e.blockEvents()
	if len(evs) != 3 || evs[0].BlockNumber != 4 || evs[0].PreviousHash != cs.wrapped[2].Root.String() {
		t.Fatalf("block events %+v: want 4…6, block 4 naming wrapped block 3's root %s", evs, cs.wrapped[2].Root)
	}
	for i, ev := range evs {
		if ev.RootHash != cs.blocks[i].Root.String() || ev.Verification != "chained" {
			t.Errorf("block %d event: %+v, want root %s chained", ev.BlockNumber, ev, cs.blocks[i].Root)
		}
	}
	raw, err := os.ReadFile(filepath.Join(e.dest, "_state", "blocks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pos struct {
		Last     uint64 `json:"last_block"`
		Anchored bool   `json:"anchored"`
		Cutover  struct {
			RecordFile  string `json:"record_file"`
			RecordBlock uint64 `json:"record_block"`
			WrappedRoot string `json:"wrapped_root_hash"`
		} `json:"cutover"`
	}
	if err := json.Unmarshal(raw, &pos); err != nil {
		t.Fatal(err)
	}
	if pos.Last != 6 || !pos.Anchored || pos.Cutover.RecordFile != stem(cs.files[2]) || pos.Cutover.RecordBlock != 3 || pos.Cutover.WrappedRoot != cs.wrapped[2].Root.String() {
		t.Errorf("block position %s", raw)
	}

	// From now on only blocks: a new record file (there are none after a
	// cutover) would not be read; block 8 lets block 7 be written.
	cs.next(e)
	if code, stderr := e.run(binary, nil, args...); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if got := e.blocksWritten(); len(got) != 4 {
		t.Errorf("after block 8 arrived, written %v", got)
	}
	if len(e.records()) != 3 {
		t.Errorf("record files %v", e.records())
	}
}

// wantFlat is the day-directory names of generated blocks.
func wantFlat(bs []*blockgen.Block) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Time.UTC().Format("2006-01-02")+"/"+blockstream.FileName(b.Number, blockstream.Zstd))
	}
	return out
}

// backfill --blocks reads history: wrapped record blocks 1…3 (their record
// files' node signatures verified, chained as record files chain) and
// blocks 4 and 5 after them, apart from the live position; a range
// beyond what the sources hold stops, says so, and resumes.
func TestBackfillBlockRange(t *testing.T) {
	e := newBlockEnv(t)
	cs := e.cutoverStream(3, 3)
	args := e.blockArgs("BLOCK_TSS_PLACEHOLDER=true", "CUTOVER=off")
	code, stderr := e.run(binary, []string{"backfill", "--blocks", "1-5"}, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	all := append(append([]*blockgen.Block{}, cs.wrapped...), cs.blocks...)
	if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(all[:5]), " ") {
		t.Fatalf("written %v, want %v", got, wantFlat(all[:5]))
	}
	evs := e.blockEvents()
	if len(evs) != 5 {
		t.Fatalf("%d block events, want 5", len(evs))
	}
	for i, ev := range evs {
		want := "chained"
		if i < 3 {
			want = "rsa_signed"
		}
		if ev.BlockNumber != all[i].Number || ev.RootHash != all[i].Root.String() || ev.Verification != want {
			t.Errorf("event %d: block %d root %s %s; want block %d root %s %s", i, ev.BlockNumber, ev.RootHash, ev.Verification, all[i].Number, all[i].Root, want)
		}
	}
	for _, f := range []string{"live.json", "blocks.json"} {
		if _, err := os.Stat(filepath.Join(e.dest, "_state", f)); err == nil {
			t.Errorf("the backfill saved a live position (%s)", f)
		}
	}
	if len(e.records()) != 0 {
		t.Errorf("the backfill wrote record files %v", e.records())
	}
	// Blocks 5…9: block 6 is the last the bucket has, and it waits for
	// block 7 to name it.
	code, stderr = e.run(binary, []string{"backfill", "--blocks", "5-9"}, args...)
	if code != 1 || !strings.Contains(stderr, "backfill incomplete") || !strings.Contains(stderr, "block 6") {
		t.Fatalf("range past the end: exit %d, %s", code, stderr)
	}
	cs.next(e)
	cs.next(e)
	cs.next(e)
	cs.next(e)
	if code, stderr = e.run(binary, []string{"backfill", "--blocks", "5-9"}, args...); code != 0 {
		t.Fatalf("resumed: exit %d: %s", code, stderr)
	}
	if n := len(e.blocksWritten()); n != 9 {
		t.Errorf("%d blocks written, want 1…9", n)
	}
	if code, stderr = e.run(binary, []string{"backfill", "--blocks", "9-5"}, args...); code != 1 || !strings.Contains(stderr, "--blocks") {
		t.Errorf("reversed range: exit %d, %s", code, stderr)
	}
}

// The cutover with a block node and a bucket: the bucket holds only the
// blocks after the cutover, the block node the wrapped record blocks too
// (it keeps history). The anchor comes from the block node; every block
// is taken from the block node and confirmed by the bucket's copy.
func TestCutoverWithBlockNodeAndBucket(t *testing.T) {
	e := newBlockEnv(t)
	cs := &cutoverStream{files: e.upload(3, streamgen.Options{})}
	cs.gen = blockgen.New(blockgen.Options{FirstBlock: 1, Placeholder: true})
	bn := testkit.BlockNode(t)
	for _, f := range cs.files {
		w, err := cs.gen.Wrap(e.net, f)
		if err != nil {
			t.Fatal(err)
		}
		cs.wrapped = append(cs.wrapped, w)
		if _, err := bn.Add(w.Plain); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		b := cs.next(e)
		if _, err := bn.Add(b.Plain); err != nil {
			t.Fatal(err)
		}
	}
	code, stderr := e.run(binary, nil, "BLOCK_BUCKETS=gs://"+e.gcsBlocks, "BLOCK_NODES="+bn.Addr(), "BLOCK_TSS_PLACEHOLDER=true",
		"BLOCK_NODE_STALL_TIMEOUT=2", "LOG_LEVEL=info")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(e.records()) != 3 || !strings.Contains(stderr, "cutover") {
		t.Fatalf("records %v; log:\n%s", e.records(), stderr)
	}
	// Confirmed blocks need no successor: 4…7 are written.
	if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(cs.blocks), " ") {
		t.Fatalf("blocks written %v, want %v", got, wantFlat(cs.blocks))
	}
	for i, ev := range e.blockEvents() {
		if ev.RootHash != cs.blocks[i].Root.String() || ev.Verification != "confirmed" || ev.Source != "block-node://"+bn.Addr() || ev.ConfirmedBy != "gs://"+e.gcsBlocks {
			t.Errorf("block %d: %+v, want root %s from the block node, confirmed by the bucket", ev.BlockNumber, ev, cs.blocks[i].Root)
		}
	}
}
