package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/config"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// These tests run the real binary against block-stream buckets in
// fake-gcs-server and versitygw holding the fixture blocks (real blocks
// with published root hashes) and generated ones.

// blockEnv is a procEnv with block buckets.
type blockEnv struct {
	*procEnv
	gcsBlocks string // a bucket on the same fake-gcs-server
	s3        config.Bucket
	s3Store   blob.Store
}

func newBlockEnv(t *testing.T) *blockEnv {
	e := &blockEnv{procEnv: newProcEnv(t, 2)}
	e.gcsBlocks = "blocks-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(e.gcsBlocks) > 60 {
		e.gcsBlocks = e.gcsBlocks[:60]
	}
	e.gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: e.gcsBlocks})
	return e
}

// withS3 adds an S3 copy of the block bucket on versitygw.
func (e *blockEnv) withS3() {
	e.s3 = testkit.S3(e.t)
	var err error
	if e.s3Store, err = blob.Open(e.ctx, e.s3); err != nil {
		e.t.Fatal(err)
	}
}

// s3Env is what the binary needs to read the S3 copy.
func (e *blockEnv) s3Env() []string {
	return []string{"BLOCK_S3_ENDPOINT=" + e.s3.Endpoint, "AWS_ACCESS_KEY_ID=" + e.s3.ID, "AWS_SECRET_ACCESS_KEY=" + e.s3.Key.Value(), "AWS_REGION=us-east-1"}
}

// putGCS puts a block object in the GCS block bucket.
func (e *blockEnv) putGCS(key string, data []byte) {
	e.gcs.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: e.gcsBlocks, Name: key}, Content: data})
}

func (e *blockEnv) putS3(key string, data []byte) {
	e.t.Helper()
	if err := e.s3Store.Put(e.ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		e.t.Fatal(err)
	}
}

// blockEvent is a downloaded event of kind block.
type blockEvent struct {
	Path, Kind, Source, Verification, Proof, Bucket, Object string
	RootHash                                                string `json:"file_hash"`
	PreviousHash                                            string `json:"previous_hash"`
	ConfirmedBy                                             string `json:"confirmed_by"`
	BlockNumber                                             uint64 `json:"block_number"`
	SHA384                                                  string
	Size                                                    int64
	MsgID                                                   string `json:"-"`
	Subject                                                 string `json:"-"`
}

// blockEvents reads the block events of the stream, each checked against
// the schema, in stream order.
func (e *blockEnv) blockEvents() []blockEvent {
	e.t.Helper()
	info, err := e.stream.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []blockEvent
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := e.stream.GetMsg(e.ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		testkit.CheckEvent(e.t, msg.Subject, msg.Data)
		var ev blockEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			e.t.Fatal(err)
		}
		if ev.Kind != "block" {
			continue
		}
		ev.MsgID, ev.Subject = msg.Header.Get(jetstream.MsgIDHeader), msg.Subject
		out = append(out, ev)
	}
	return out
}

// blocksWritten lists the block files in the day directories, by name.
func (e *blockEnv) blocksWritten() []string {
	var out []string
	for _, f := range e.visible() {
		if strings.HasSuffix(f, ".blk.zstd") {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// blockArgs is the environment of a block run over the GCS block bucket.
func (e *blockEnv) blockArgs(extra ...string) []string {
	return append([]string{"BLOCK_BUCKETS=gs://" + e.gcsBlocks, "BLOCK_SOURCE=bucket"}, extra...)
}

// fixtureBlock reads a fixture block file (as stored) and its published
// values.
func fixtureBlock(t *testing.T, rel string) ([]byte, expectedBlock) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testkit.HederaFixtures(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(testkit.HederaFixtures(t), "blockstreams-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]expectedBlock `json:"files"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	exp, ok := doc.Files[rel]
	if !ok {
		t.Fatalf("blockstreams-expected.json has no entry for %s", rel)
	}
	return data, exp
}

// expectedBlock is what blockstreams-expected.json publishes of a block.
type expectedBlock struct {
	Number      uint64 `json:"block_number"`
	RootHash    string `json:"root_hash"`
	PrevHash    string `json:"previous_hash"`
	TimestampNs int64  `json:"block_timestamp_ns"`
}

// asZstd is a stored block as the buckets hold it: zstd of the serialized
// Block (fixtures stored gzip are recompressed).
func asZstd(t *testing.T, rel string, data []byte) []byte {
	t.Helper()
	if strings.HasSuffix(rel, ".zstd") {
		return data
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	return enc.EncodeAll(plain, nil)
}

// day is the day directory of a block timestamp.
func day(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02")
}

// The mirror node's two fixture blocks (CN 0.73, the eight-leaf root) in
// one bucket: block 7 is taken as it comes (START_BLOCK, no anchor) and
// written once block 8 names its root hash; block 8 waits for block 9.
// The event carries the published root hash, the id names the block.
func TestFixtureBlocksFromOneBucket(t *testing.T) {
	e := newBlockEnv(t)
	var exp []expectedBlock
	for _, rel := range []string{"hedera-mirror-node/blockstreams/0000/0000/0000/0000/007.blk.zstd", "hedera-mirror-node/blockstreams/0000/0000/0000/0000/008.blk.zstd"} {
		data, x := fixtureBlock(t, rel)
		e.putGCS(blocksrc.Key("mainnet", x.Number), data)
		exp = append(exp, x)
	}
	// The mirror node's test network ran with TSS off: its proofs are
	// the SHA-384 of the root.
	code, stderr := e.run(binary, nil, e.blockArgs("START_BLOCK=7", "BLOCK_TSS_PLACEHOLDER=true")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := day(exp[0].TimestampNs) + "/0000000000000000007.blk.zstd"
	if got := e.blocksWritten(); len(got) != 1 || got[0] != want {
		t.Fatalf("written %v, want only %s (block 8 waits for block 9 to name its root hash)", got, want)
	}
	stored, _ := fixtureBlock(t, "hedera-mirror-node/blockstreams/0000/0000/0000/0000/007.blk.zstd")
	if got, _ := os.ReadFile(filepath.Join(e.dest, want)); !bytes.Equal(got, stored) {
		t.Errorf("%s is not the object's bytes", want)
	}
	evs := e.blockEvents()
	if len(evs) != 1 {
		t.Fatalf("%d block events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.BlockNumber != 7 || ev.RootHash != exp[0].RootHash || ev.PreviousHash != exp[0].PrevHash || ev.Verification != "chained" || ev.Proof != "tss_placeholder" ||
		ev.Subject != "hedera.records.downloaded.block" || ev.MsgID != "mainnet/"+want+"/block" || ev.Source != "gs://"+e.gcsBlocks ||
		ev.Object != blocksrc.Key("mainnet", 7) || ev.Path != want {
		t.Errorf("event %+v\nwant block 7, root %s, chained, id mainnet/%s/block", ev, exp[0].RootHash, want)
	}
	// The next run goes on from the position: block 8 still waits.
	if code, stderr := e.run(binary, nil, e.blockArgs("START_BLOCK=7", "BLOCK_TSS_PLACEHOLDER=true")...); code != 0 {
		t.Fatalf("second run exit %d: %s", code, stderr)
	}
	if got := e.blocksWritten(); len(got) != 1 {
		t.Errorf("second run wrote %v", got)
	}
	if n := len(e.blockEvents()); n != 1 {
		t.Errorf("%d block events after the second run", n)
	}
	// Without leave to accept placeholder proofs, block 8 is refused: the
	// position stays at 7 and the run fails naming the block.
	code, stderr = e.run(binary, nil, e.blockArgs("START_BLOCK=7")...)
	if code != 1 || !strings.Contains(stderr, "block 8") || !strings.Contains(stderr, "placeholder") {
		t.Errorf("placeholder proof not allowed: exit %d, %s", code, stderr)
	}
	if got := e.blocksWritten(); len(got) != 1 {
		t.Errorf("written %v after a refused block", got)
	}
}

// The block node's CN 0.78 chain (the sixteen-leaf root): blocks 0…3 of
// CN_11_12_TSS_SCHNORR in the GCS and S3 copies; every block confirmed
// by the second copy is written, each with its published root hash, and
// each footer names the root hash before it.
func TestFixtureChainConfirmedByTwoBuckets(t *testing.T) {
	e := newBlockEnv(t)
	e.withS3()
	var exp []expectedBlock
	for n := 0; n <= 3; n++ {
		rel := fmt.Sprintf("hiero-block-node/test-blocks/CN_11_12_TSS_SCHNORR/%d.blk.gz", n)
		data, x := fixtureBlock(t, rel)
		z := asZstd(t, rel, data)
		e.putGCS(blocksrc.Key("mainnet", x.Number), z)
		e.putS3(blocksrc.Key("mainnet", x.Number), z)
		exp = append(exp, x)
	}
	// The ledger id block 0 publishes (blockstreams-expected.json): TSS
	// proofs of the right structure for it are reported as such.
	args := append([]string{"BLOCK_BUCKETS=gs://" + e.gcsBlocks + ",s3://" + e.s3.Name, "BLOCK_SOURCE=bucket", "START_BLOCK=0", "S3_REQUESTER_PAYS=false",
		"LEDGER_ID=" + ledgerID(t, "hiero-block-node/test-blocks/CN_11_12_TSS_SCHNORR/0.blk.gz")}, e.s3Env()...)
	code, stderr := e.run(binary, nil, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	evs := e.blockEvents()
	if len(evs) != len(exp) {
		t.Fatalf("%d block events, want %d: %s", len(evs), len(exp), stderr)
	}
	for i, ev := range evs {
		x := exp[i]
		if ev.BlockNumber != x.Number || ev.RootHash != x.RootHash || ev.Verification != "confirmed" || ev.ConfirmedBy != "s3://"+e.s3.Name || ev.Proof != "tss_structure" {
			t.Errorf("event %d: %+v\nwant block %d root %s confirmed by s3://%s", i, ev, x.Number, x.RootHash, e.s3.Name)
		}
		if i > 0 && ev.PreviousHash != exp[i-1].RootHash {
			t.Errorf("block %d names previous %s, block %d's root is %s", x.Number, ev.PreviousHash, x.Number-1, exp[i-1].RootHash)
		}
		got, err := os.ReadFile(filepath.Join(e.dest, ev.Path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := blockstream.Parse(filepath.Base(ev.Path), got)
		if err != nil {
			t.Fatalf("%s: %v", ev.Path, err)
		}
		if root, _, _ := b.RootHash(); root.String() != x.RootHash {
			t.Errorf("%s on disk has root %s, want %s", ev.Path, root, x.RootHash)
		}
	}
}

// ledgerID is the ledger id blockstreams-expected.json publishes for a
// block 0.
func ledgerID(t *testing.T, rel string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testkit.HederaFixtures(t), "blockstreams-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]struct {
			Publication struct {
				LedgerID string `json:"ledger_id"`
			} `json:"ledger_id_publication"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	id := doc.Files[rel].Publication.LedgerID
	if id == "" {
		t.Fatalf("no ledger id published for %s", rel)
	}
	return id
}
