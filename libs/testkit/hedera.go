package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// HederaFixtures is the repository's testdata/hedera: real node-signed
// record streams (hedera-mirror-node/recordstreams/…), block files, their
// address books, and expected.json and blockstreams-expected.json, the
// values a correct reader must produce for them (provenance and licence in
// its README and LICENSE). A test that needs them fails, saying where they
// belong, when they are not there.
func HederaFixtures(t testing.TB) string {
	t.Helper()
	root := filepath.Join(RepoRoot(), "testdata", "hedera")
	if _, err := os.Stat(filepath.Join(root, "expected.json")); err != nil {
		t.Fatalf("Hedera fixtures not found at %s (%v): they are part of the repository (testdata/hedera); is the checkout complete?", root, err)
	}
	return root
}

// HederaStreams is the fixtures' recordstreams directory:
// <dataset>/record0.0.N/<files> (performance/v2/<files> without a node).
func HederaStreams(t testing.TB) string {
	return filepath.Join(HederaFixtures(t), "hedera-mirror-node", "recordstreams")
}

// HederaFile is expected.json's entry for one record file.
type HederaFile struct {
	Version      int             `json:"version"`
	Count        int             `json:"count"`
	StartNs      int64           `json:"start_ns"`
	EndNs        int64           `json:"end_ns"`
	Size         int64           `json:"size"`
	FileHash     string          `json:"file_hash"`
	End          string          `json:"end"`  // what the next file must start from
	Prev         string          `json:"prev"` // previous hash (v2), start running hash (v5/v6)
	MetadataHash string          `json:"metadata_hash"`
	HAPI         json.RawMessage `json:"hapi"` // v2: a number; v5/v6: [major, minor, patch]
	Block        *int64          `json:"block"`
	Sidecars     []HederaSidecar `json:"sidecars"`
}

// HederaSidecar is expected.json's entry for one sidecar file.
type HederaSidecar struct {
	Hash    string  `json:"hash"`
	Name    string  `json:"name"`
	Records int     `json:"records"`
	Size    int64   `json:"size"`
	Types   []int32 `json:"types"`
}

// HederaExpected reads expected.json: path below recordstreams/ → values.
func HederaExpected(t testing.TB) map[string]HederaFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(HederaFixtures(t), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]HederaFile `json:"files"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(doc.Files) == 0 {
		t.Fatal("expected.json lists no files")
	}
	return doc.Files
}
