package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"tributary.dev/libs/testkit/blocknode"
)

// BlockNode starts a block node stand-in (real gRPC, the block node API)
// on a free loopback port, holding no blocks yet; it is stopped when the
// test ends. Give it blocks with Add (HederaBlock, blocknode.GenerateBlock)
// and misbehaviour with Inject.
func BlockNode(t testing.TB) *blocknode.Server {
	t.Helper()
	s := blocknode.New()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("testkit: %v (the stand-in runs in process; check that 127.0.0.1 accepts listeners)", err)
	}
	t.Cleanup(s.Close)
	return s
}

// HederaBlock is the serialized Block in the fixture block file rel (a
// path below testdata/hedera, e.g.
// "hedera-mirror-node/blockstreams/0000/0000/0000/0000/007.blk.zstd"),
// decompressed: the bytes blockstreams-expected.json's sha384_uncompressed
// is taken over.
func HederaBlock(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := blocknode.ReadBlockFile(filepath.Join(HederaFixtures(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("fixture block %s: %v", rel, err)
	}
	return b
}

// HederaBlockFile is blockstreams-expected.json's entry for one block
// file: the published values a block taken from it must match.
type HederaBlockFile struct {
	BlockNumber        uint64 `json:"block_number"`
	SHA384Uncompressed string `json:"sha384_uncompressed"`
	Items              int    `json:"block_items_total"`
	Format             string `json:"format"`
}

// HederaBlocksExpected reads blockstreams-expected.json: path below
// testdata/hedera → values.
func HederaBlocksExpected(t testing.TB) map[string]HederaBlockFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(HederaFixtures(t), "blockstreams-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]HederaBlockFile `json:"files"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("blockstreams-expected.json: %v", err)
	}
	if len(doc.Files) == 0 {
		t.Fatal("blockstreams-expected.json lists no files")
	}
	return doc.Files
}
