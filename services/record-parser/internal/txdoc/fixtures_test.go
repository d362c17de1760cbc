package txdoc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/testkit"
)

// The real node-signed record files the mirror node tests with and their
// expected.json; expected values in these tests come from there or from
// decoding the fixture bytes independently (protoc --decode_raw).

func streamsDir(t testing.TB) string { return testkit.HederaStreams(t) }

type expectedFile = testkit.HederaFile

func expected(t testing.TB) map[string]expectedFile { return testkit.HederaExpected(t) }

// readFixture parses the record file at rel (below recordstreams/).
func readFixture(t testing.TB, rel string) *recordstream.RecordFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(streamsDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	f, err := recordstream.Parse(filepath.Base(rel), data)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return f
}

// readSidecars reads the sidecars expected.json lists for rel.
func readSidecars(t testing.TB, rel string, exp expectedFile) []*hederapb.TransactionSidecarRecord {
	t.Helper()
	var out []*hederapb.TransactionSidecarRecord
	for _, sc := range exp.Sidecars {
		p := filepath.Join(streamsDir(t), filepath.Dir(rel), "sidecar", sc.Name)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := recordstream.ParseSidecar(sc.Name, data)
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		if len(s.Records) != sc.Records {
			t.Fatalf("%s: %d sidecar records, expected.json says %d", sc.Name, len(s.Records), sc.Records)
		}
		out = append(out, s.Records...)
	}
	return out
}

func source(rel string, f *recordstream.RecordFile) Source {
	return Source{File: filepath.Base(rel), BlockNumber: f.BlockNumber, HasBlock: f.Version == 6}
}

// TestEveryFixtureItem encodes every item of every fixture record file and
// checks each document is valid JSON with the item's consensus timestamp,
// and that the count is expected.json's.
func TestEveryFixtureItem(t *testing.T) {
	exp := expected(t)
	names := make([]string, 0, len(exp))
	for rel := range exp {
		names = append(names, rel)
	}
	sort.Strings(names)
	counts := map[string]map[string]int{}
	enc := NewEncoder(Options{})
	var buf []byte
	for _, rel := range names {
		e := exp[rel]
		f := readFixture(t, rel)
		var side map[int64][]*hederapb.TransactionSidecarRecord
		if len(e.Sidecars) > 0 {
			side = SidecarsByConsensus(readSidecars(t, rel, e))
		}
		src := source(rel, f)
		n := 0
		for i, it := range f.Items {
			var meta Meta
			buf, meta = enc.Append(buf[:0], src, i, it, side[it.ConsensusNs])
			if !json.Valid(buf) {
				t.Fatalf("%s item %d: invalid JSON: %s", rel, i, buf)
			}
			var doc map[string]any
			if err := json.Unmarshal(buf, &doc); err != nil {
				t.Fatalf("%s item %d: %v", rel, i, err)
			}
			if doc["consensus_timestamp"] != ID(it.ConsensusNs) || meta.ID != ID(it.ConsensusNs) {
				t.Errorf("%s item %d: consensus_timestamp %v, meta %q, item %d", rel, i, doc["consensus_timestamp"], meta.ID, it.ConsensusNs)
			}
			if meta.ParseError != "" {
				t.Errorf("%s item %d: %s", rel, i, meta.ParseError)
			}
			if doc["record_file"] != filepath.Base(rel) || doc["index_in_file"] != float64(i) {
				t.Errorf("%s item %d: record_file %v index_in_file %v", rel, i, doc["record_file"], doc["index_in_file"])
			}
			_, hasBlock := doc["block_number"]
			if hasBlock != (e.Block != nil) {
				t.Errorf("%s item %d: block_number present %v, expected.json block %v", rel, i, hasBlock, e.Block)
			}
			if e.Block != nil && hasBlock && int64(doc["block_number"].(float64)) != *e.Block && *e.Block > -1<<53 {
				t.Errorf("%s item %d: block_number %v, expected %d", rel, i, doc["block_number"], *e.Block)
			}
			dataset := strings.Split(rel, "/")[0]
			if counts[dataset] == nil {
				counts[dataset] = map[string]int{}
			}
			counts[dataset][meta.Name+"/"+meta.Result]++
			n++
		}
		if n != e.Count {
			t.Errorf("%s: %d documents, expected.json count %d", rel, n, e.Count)
		}
		if len(f.Items) > 0 && (f.Items[0].ConsensusNs != e.StartNs || f.Items[len(f.Items)-1].ConsensusNs != e.EndNs) {
			t.Errorf("%s: items span %d..%d, expected.json %d..%d", rel, f.Items[0].ConsensusNs, f.Items[len(f.Items)-1].ConsensusNs, e.StartNs, e.EndNs)
		}
	}
	for ds, c := range counts {
		t.Logf("%s: %v", ds, c)
	}
}
