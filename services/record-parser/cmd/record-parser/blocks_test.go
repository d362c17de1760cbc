package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/intake"
)

// putBlock writes a block where the downloader writes it
// (RECORD_DIR/<block time's day>/<19-digit number>.blk.zstd) and
// announces it as the downloader does: kind block, its number, its time and
// the root hash it verified.
func (h *harness) putBlock(blk *blockgen.Block, data []byte) string {
	h.t.Helper()
	return h.putBlockAs(blk.Number, blk.Time, blockstream.FileName(blk.Number, blockstream.Zstd), data, hex.EncodeToString(blk.Root[:]))
}

func (h *harness) putBlockAs(number uint64, at time.Time, name string, data []byte, root string) string {
	h.t.Helper()
	rel := at.UTC().Format(time.DateOnly) + "/" + name
	h.write(rel, data)
	sum := sha512.Sum384(data)
	// As the record-downloader announces a block: on the block subject, no
	// node, the source it came from and how it was taken.
	e := map[string]any{"v": 1, "host": "test", "utcts": natsbus.UTCTS(time.Now()),
		"source": "gs://hedera-test-recent-block-streams", "verification": "chained",
		"path": rel, "kind": "block", "size": len(data), "sha384": hex.EncodeToString(sum[:]),
		"consensus_start": at.UTC().Format("2006-01-02T15:04:05.000000000Z"), "file_hash": root, "block_number": number}
	payload, _ := json.Marshal(e)
	subject := intake.SubjectPrefix + intake.BlockToken
	testkit.CheckEvent(h.t, subject, payload)
	if _, err := h.js.Publish(h.ctx, subject, payload, jetstream.WithMsgID("hedera-test/"+rel)); err != nil {
		h.t.Fatal(err)
	}
	return rel
}

// putStreamFile writes and announces a generated record file (node 0.0.3's
// copy).
func (h *harness) putStreamFile(f *streamgen.File) {
	h.t.Helper()
	h.putAs(f.Name, f.RecordBytes("0.0.3"), hex.EncodeToString(f.Record.FileHash))
}

func blocks(t *testing.T, g *blockgen.Generator, n int) []*blockgen.Block {
	t.Helper()
	var out []*blockgen.Block
	for range n {
		b, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// column is one column of parser_files in consensus order, as text.
func (h *harness) column(expr string) []string {
	h.t.Helper()
	var out []string
	h.withDB(func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, "SELECT ("+expr+")::text FROM parser_files WHERE network = $1 ORDER BY consensus_start, name", h.network)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out
}

// The cutover, through the binary: record files, the wrapped record block
// of the next record file, then blocks. Every file is parsed into
// documents and a block document, numbered on from the record files'; the
// wrapped block chains on the record stream's hash and hands its root hash
// to the first block; no break; each announced once with its kind.
func TestCutoverRecordFilesWrappedBlockThenBlocks(t *testing.T) {
	h := newHarness(t)
	net, err := streamgen.NewNetwork(4)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)
	g := net.Stream(streamgen.Options{Mixed: true, Items: 20, FirstBlock: 100, Start: start})
	var files []*streamgen.File
	for range 3 {
		f, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	bg := blockgen.New(blockgen.Options{FirstBlock: 102, Transactions: 30, Seed: 3})
	wrb, err := bg.Wrap(net, files[2])
	if err != nil {
		t.Fatal(err)
	}
	after := blocks(t, bg, 2)
	h.putStreamFile(files[0])
	h.putStreamFile(files[1])
	h.putBlock(wrb, wrb.Zstd())
	for _, b := range after {
		h.putBlock(b, b.Zstd())
	}
	h.mustRun(nil)

	if got := strings.Join(h.column("kind || ' ' || block_number || ' ' || outcome"), ", "); got !=
		"record 100 parsed, record 101 parsed, wrapped 102 parsed, block 103 parsed, block 104 parsed" {
		t.Fatalf("state: %s", got)
	}
	status := h.mustRun([]string{"status"})
	if !strings.Contains(status, "chain breaks: 0") || !strings.Contains(status, "halted: no") ||
		!strings.Contains(status, "block 104") {
		t.Errorf("status:\n%s", status)
	}
	events := h.events()
	kinds := map[string]string{}
	for _, e := range events {
		kinds[e.File] = fmt.Sprintf("%s v%d %d %v", e.Kind, e.FormatVersion, e.Count, e.BlockHash != nil)
	}
	wrbRel := wrb.Time.UTC().Format(time.DateOnly) + "/" + blockstream.FileName(102, blockstream.Zstd)
	if len(events) != 5 || kinds[wrbRel] != "wrapped v6 20 true" ||
		kinds[after[0].Time.UTC().Format(time.DateOnly)+"/"+blockstream.FileName(103, blockstream.Zstd)] != "block v7 30 true" {
		t.Errorf("events %v", kinds)
	}
	if n := len(h.docs("hedera-transactions-2026.12.09")); n != 3*20+2*30 {
		t.Errorf("%d documents, want %d", n, 3*20+2*30)
	}
	// The block index: the REST block object of each, the first block's
	// previous hash the wrapped block's root.
	docs := h.docs("hedera-blocks-2026.12.09")
	byNumber := map[float64]map[string]any{}
	for _, raw := range docs {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		byNumber[d["number"].(float64)] = d
	}
	if len(byNumber) != 5 {
		t.Fatalf("%d block documents: %v", len(docs), sortedKeys(docs))
	}
	if b := byNumber[103]; b["previous_hash"] != "0x"+hex.EncodeToString(wrb.Root[:]) || b["hash"] != "0x"+hex.EncodeToString(after[0].Root[:]) ||
		b["count"] != float64(30) || b["kind"] != "block" || b["hapi_version"] != "0.80.0" {
		t.Errorf("block 103's document %v", b)
	}
	if w := byNumber[102]; w["name"] != blockstream.RecordFileName(files[2].Consensus) || w["hash"] != "0x"+hex.EncodeToString(files[2].Record.EndRunningHash) ||
		w["block_hash"] != "0x"+hex.EncodeToString(wrb.Root[:]) || w["count"] != float64(20) {
		t.Errorf("the wrapped block's document %v", w)
	}
	if r := byNumber[100]; r["kind"] != "record" || r["hash"] != "0x"+hex.EncodeToString(files[0].Record.EndRunningHash) || r["block_hash"] != nil {
		t.Errorf("the first record file's document %v", r)
	}
	var ndjson int
	filepath.Walk(filepath.Join(h.out, "_blocks"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			ndjson++
		}
		return nil
	})
	if ndjson != 5 {
		t.Errorf("%d block NDJSON files, want 5", ndjson)
	}
}

// flipLastByte changes the last byte of the first signed transaction of a
// block (a signature byte: the block still reads, its root hash does not
// hold).
func flipLastByte(t *testing.T, b *blockgen.Block) []byte {
	t.Helper()
	plain := bytes.Clone(b.Plain)
	blk, err := blockstream.NewReader(blockstream.Limits{}).ParsePlain("x.blk", plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range blk.Items {
		if it.Kind == blockstream.KindSignedTransaction {
			it.Payload[len(it.Payload)-1] ^= 0xff
			return zstdOf(t, plain)
		}
	}
	t.Fatal("no signed transaction")
	return nil
}

func zstdOf(t *testing.T, plain []byte) []byte {
	t.Helper()
	return (&blockgen.Block{Plain: plain}).Zstd()
}

// Blocks the parser refuses, through the binary: a tampered item (the
// root hash the downloader verified does not hold) and a misnamed file
// are quarantined, with the reason beside the copy; the block after a
// quarantined one breaks the chain (its footer names a root the stream no
// longer has) and halts it, as the file after a quarantined record file
// does. A wrong footer and a skipped number are chain breaks: the stream
// halts at them, status names them, resume accepts them.
func TestBlocksRefused(t *testing.T) {
	start := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	t.Run("tampered item", func(t *testing.T) {
		h := newHarness(t)
		bs := blocks(t, blockgen.New(blockgen.Options{Start: start, Transactions: 5}), 3)
		h.putBlock(bs[0], bs[0].Zstd())
		h.putBlock(bs[1], flipLastByte(t, bs[1]))
		h.putBlock(bs[2], bs[2].Zstd())
		code, out := h.run(binary, nil, "LOG_LEVEL=info")
		if code == 0 {
			t.Errorf("exit 0 with the stream halted:\n%s", out)
		}
		name1, name2 := blockstream.FileName(1, blockstream.Zstd), blockstream.FileName(2, blockstream.Zstd)
		if st := h.parsedFiles(); st[blockstream.FileName(0, blockstream.Zstd)] != "parsed" || st[name1] != "quarantined" || st[name2] != "" {
			t.Fatalf("state %v:\n%s", st, out)
		}
		reason, err := os.ReadFile(filepath.Join(h.out, "_quarantine", "2026-12-10", name1+".reason"))
		if err != nil || !bytes.Contains(reason, []byte("hash_mismatch")) {
			t.Errorf("quarantine reason %q, %v", reason, err)
		}
		if h.halted() != name2 {
			t.Errorf("halted at %q, want %s", h.halted(), name2)
		}
		status := h.mustRun([]string{"status"})
		if !strings.Contains(status, name2+" after "+blockstream.FileName(0, blockstream.Zstd)) || !strings.Contains(status, "previous block root hash") {
			t.Errorf("status:\n%s", status)
		}
	})
	t.Run("misnamed", func(t *testing.T) {
		h := newHarness(t)
		bs := blocks(t, blockgen.New(blockgen.Options{Start: start, Transactions: 5}), 3)
		h.putBlock(bs[0], bs[0].Zstd())
		h.putBlock(bs[1], bs[1].Zstd())
		// Block 1's bytes under block 2's name.
		name2 := blockstream.FileName(2, blockstream.Zstd)
		h.putBlockAs(2, bs[2].Time, name2, bs[1].Zstd(), hex.EncodeToString(bs[2].Root[:]))
		h.run(binary, nil)
		if st := h.parsedFiles(); st[name2] != "quarantined" {
			t.Fatalf("state %v", st)
		}
		reason, err := os.ReadFile(filepath.Join(h.out, "_quarantine", "2026-12-10", name2+".reason"))
		if err != nil || !bytes.Contains(reason, []byte("misnamed")) {
			t.Errorf("quarantine reason %q, %v", reason, err)
		}
		// The right block put in its place and taken back: it fits
		// between its neighbours, the quarantine copy goes.
		h.write("2026-12-10/"+name2, bs[2].Zstd())
		out := h.mustRun([]string{"reparse", "2026-12-10/" + name2})
		if !strings.Contains(out, "2026-12-10/"+name2+": parsed and recorded") {
			t.Errorf("reparse: %s", out)
		}
		if st := h.parsedFiles(); st[name2] != "parsed" {
			t.Errorf("after reparse: %v", st)
		}
		if _, err := os.Stat(filepath.Join(h.out, "_quarantine", "2026-12-10", name2)); !os.IsNotExist(err) {
			t.Errorf("quarantine copy still there: %v", err)
		}
	})
	t.Run("wrong footer", func(t *testing.T) {
		h := newHarness(t)
		b0 := blocks(t, blockgen.New(blockgen.Options{Start: start, Transactions: 5}), 1)[0]
		other := blockstream.Hash(sha512.Sum384([]byte("not block 0")))
		b1 := blocks(t, blockgen.New(blockgen.Options{Start: start.Add(2 * time.Second), Transactions: 5, FirstBlock: 1, PreviousRoot: &other}), 1)[0]
		h.putBlock(b0, b0.Zstd())
		h.putBlock(b1, b1.Zstd())
		h.run(binary, nil)
		name1 := blockstream.FileName(1, blockstream.Zstd)
		if h.halted() != name1 {
			t.Fatalf("halted at %q, want %s", h.halted(), name1)
		}
		status := h.mustRun([]string{"status"})
		if !strings.Contains(status, "previous block root hash") || !strings.Contains(status, hex.EncodeToString(other[:])) {
			t.Errorf("status:\n%s", status)
		}
	})
	t.Run("skipped number", func(t *testing.T) {
		h := newHarness(t)
		g := blockgen.New(blockgen.Options{Start: start, Transactions: 5})
		bs := blocks(t, g, 2)
		root1 := bs[1].Root
		b3 := blocks(t, blockgen.New(blockgen.Options{Start: start.Add(6 * time.Second), Transactions: 5, FirstBlock: 3, PreviousRoot: &root1}), 1)[0]
		for _, b := range append(bs, b3) {
			h.putBlock(b, b.Zstd())
		}
		h.run(binary, nil)
		name3 := blockstream.FileName(3, blockstream.Zstd)
		if h.halted() != name3 {
			t.Fatalf("halted at %q, want %s", h.halted(), name3)
		}
		status := h.mustRun([]string{"status"})
		if !strings.Contains(status, "block number 3 after 1") {
			t.Errorf("status:\n%s", status)
		}
		if out := h.mustRun([]string{"resume"}); !strings.Contains(out, "accepted: "+name3) {
			t.Errorf("resume: %s", out)
		}
		h.mustRun(nil)
		if st := h.parsedFiles(); st[name3] != "parsed" {
			t.Errorf("after resume: %v", st)
		}
	})
}

// A day of blocks parsed without events (backfill): the day directory's
// blocks by number, documents and block documents written, the chain
// checked.
func TestBlocksBackfill(t *testing.T) {
	h := newHarness(t)
	start := time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC)
	bs := blocks(t, blockgen.New(blockgen.Options{Start: start, Transactions: 7, FirstBlock: 50}), 4)
	for _, b := range bs {
		h.write("2026-12-11/"+blockstream.FileName(b.Number, blockstream.Zstd), b.Zstd())
	}
	h.mustRun([]string{"backfill", "--marker", "2026-12-11"})
	if got := strings.Join(h.column("block_number || ' ' || outcome"), ", "); got != "50 parsed, 51 parsed, 52 parsed, 53 parsed" {
		t.Fatalf("state: %s", got)
	}
	if n := len(h.docs("hedera-transactions-2026.12.11")); n != 4*7 {
		t.Errorf("%d documents", n)
	}
	if n := len(h.docs("hedera-blocks-2026.12.11")); n != 4 {
		t.Errorf("%d block documents", n)
	}
}
