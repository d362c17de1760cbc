package recordstream

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tributary.dev/libs/testkit"
)

// The real node-signed files the mirror node tests with, and expected.json,
// the values a correct reader must produce for them. Every expected value
// in these tests comes from that file; none is written into the Go.

func fixtureRoot(t testing.TB) string { return testkit.HederaFixtures(t) }

func streamsDir(t testing.TB) string { return testkit.HederaStreams(t) }

type expectedFile = testkit.HederaFile

func expected(t testing.TB) map[string]expectedFile { return testkit.HederaExpected(t) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("expected.json hash %q: %v", s, err)
	}
	return b
}

// fixtureFile is one file of a dataset on one node.
type fixtureFile struct {
	Rel     string // below recordstreams/: "v6/record0.0.3/2022-…Z.rcd.gz"
	Dataset string // "v6", "performance/v2"
	Node    string // "0.0.3"
	Base    string
}

// recordFiles lists every record file of the datasets (not signatures or
// sidecars), sorted so consecutive files of a node are adjacent.
func recordFiles(t testing.TB) []fixtureFile {
	t.Helper()
	dir := streamsDir(t)
	var out []fixtureFile
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !(strings.HasSuffix(name, ".rcd") || strings.HasSuffix(name, ".rcd.gz")) || strings.Contains(p, "/sidecar/") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		ff := fixtureFile{Rel: rel, Base: name}
		parts := strings.Split(rel, "/")
		if n := len(parts); n >= 3 && strings.HasPrefix(parts[n-2], "record") {
			ff.Node = strings.TrimPrefix(parts[n-2], "record")
			ff.Dataset = strings.Join(parts[:n-2], "/")
		} else {
			// performance/v2 has no node directories; its signer is 0.0.3.
			ff.Node = "0.0.3"
			ff.Dataset = strings.Join(parts[:n-1], "/")
		}
		out = append(out, ff)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	if len(out) == 0 {
		t.Fatalf("no record files under %s", dir)
	}
	return out
}

// expectedKey is the expected.json entry of a file: node 0.0.3's copy
// (every node's copy has the same decompressed content).
func (f fixtureFile) expectedKey() string {
	if strings.Contains(f.Rel, "/record0.0.") {
		return strings.Replace(f.Rel, "/record0.0."+strings.TrimPrefix(f.Node, "0.0.")+"/", "/record0.0.3/", 1)
	}
	return f.Rel
}

func (f fixtureFile) path(t testing.TB) string {
	return filepath.Join(streamsDir(t), filepath.FromSlash(f.Rel))
}

// sigPath is the node's signature file beside the record file.
func (f fixtureFile) sigPath(t testing.TB) string {
	p := f.path(t)
	return strings.TrimSuffix(strings.TrimSuffix(p, ".gz"), ".rcd") + ".rcd_sig"
}

func readFixture(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bookFor is the address book that verifies a dataset, as the fixtures'
// README gives it (the mirror node's tests use the same).
func bookFor(t testing.TB, dataset string) *AddressBook {
	t.Helper()
	name := map[string]string{
		"v2": "testnet", "v5": "testnet", "v2v5": "testnet", "performance/v2": "testnet",
		"v6":   "test-v6-sidecar-4n.bin",
		"v5v6": "test-v6-4n.bin", "eth-0.26.0": "test-v6-4n.bin",
	}[dataset]
	if name == "" {
		t.Fatalf("no address book known for dataset %s", dataset)
	}
	return loadBook(t, name)
}

func loadBook(t testing.TB, name string) *AddressBook {
	t.Helper()
	p := filepath.Join(fixtureRoot(t), "hedera-mirror-node", "addressbook", name)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ReadAddressBook(name, f)
	if err != nil {
		t.Fatalf("address book %s: %v", name, err)
	}
	return b
}
