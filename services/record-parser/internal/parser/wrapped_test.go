package parser

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/state"
)

// newTestParser is a parser over a fresh record dir with NDJSON on and no
// state, Elasticsearch or bus: enough to decode.
func newTestParser(t *testing.T) (*Parser, string) {
	t.Helper()
	records := t.TempDir()
	p, err := New(Config{RecordDir: records, OutputDir: t.TempDir()}, nil, nil, nil, zap.NewNop(), NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	return p, records
}

// placeFile writes data at RECORD_DIR/<day>/<name> and returns its job.
func placeFile(t *testing.T, records, day, name string, data []byte) intake.Job {
	t.Helper()
	job, err := intake.NewJob(day, name, "3")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(records, day), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(records, day, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return job
}

// writeAt writes data at RECORD_DIR/<rel>.
func writeAt(t *testing.T, records, rel string, data []byte) {
	t.Helper()
	path := filepath.Join(records, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// documents decodes job and returns its documents, by consensus
// timestamp, each without the members that name the file it came from.
func documents(t *testing.T, p *Parser, job intake.Job) (*decoded, map[string]map[string]any) {
	t.Helper()
	d, _, err := p.decode(job)
	if err != nil {
		t.Fatalf("%s: %v", job.Rel(), err)
	}
	out := map[string]map[string]any{}
	for _, line := range bytes.Split(bytes.TrimSuffix(d.lines, []byte("\n")), []byte("\n")) {
		var doc map[string]any
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("%s: %v: %s", job.Rel(), err, line)
		}
		if doc["parse_error"] != nil {
			t.Errorf("%s: %s", job.Rel(), line)
		}
		delete(doc, "record_file")
		out[doc["consensus_timestamp"].(string)] = doc
	}
	return d, out
}

func sameDocuments(t *testing.T, what string, want, got map[string]map[string]any) {
	t.Helper()
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("%s: %d documents, the record file's %d", what, len(got), len(want))
	}
	for id, w := range want {
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(got[id])
		if !bytes.Equal(wj, gj) {
			t.Fatalf("%s: document %s differs:\n record file: %s\n block:       %s", what, id, wj, gj)
		}
	}
}

// wrap builds the wrapped record block of a record file as the consensus
// node's record_file_item.proto describes it: the header (the file's HAPI
// version, number and first consensus time), a RecordFileItem (creation
// time, the RecordStreamFile: for v6 the file's own bytes, for v2 and v5
// its items between its start and end running hashes; sidecar contents),
// a footer, and a signed record file proof of the file's version.
func wrap(t *testing.T, rf *recordstream.RecordFile, plain []byte, created time.Time, number uint64, sidecars [][]byte) []byte {
	t.Helper()
	var contents []byte
	hapi := &hederapb.SemanticVersion{Major: rf.HAPI.Major, Minor: rf.HAPI.Minor, Patch: rf.HAPI.Patch}
	switch rf.Version {
	case 6:
		contents = plain[4:]
	default:
		if rf.Version == 2 {
			hapi = &hederapb.SemanticVersion{Minor: rf.LegacyHAPI}
		}
		rsf := &hederapb.RecordStreamFile{HapiProtoVersion: hapi,
			StartObjectRunningHash: &hederapb.HashObject{Algorithm: hederapb.HashAlgorithm_SHA_384, Length: 48, Hash: rf.PrevHash}}
		if rf.Version == 5 {
			rsf.EndObjectRunningHash = &hederapb.HashObject{Algorithm: hederapb.HashAlgorithm_SHA_384, Length: 48, Hash: rf.EndRunningHash}
		}
		for _, it := range rf.Items {
			rsf.RecordStreamItems = append(rsf.RecordStreamItems, &hederapb.RecordStreamItem{Transaction: it.Transaction, Record: it.Record})
		}
		contents = mustMarshal(t, rsf)
	}
	var item []byte
	item = protowire.AppendBytes(protowire.AppendTag(item, 1, protowire.BytesType),
		mustMarshal(t, &hederapb.Timestamp{Seconds: created.Unix(), Nanos: int32(created.Nanosecond())}))
	item = protowire.AppendBytes(protowire.AppendTag(item, 2, protowire.BytesType), contents)
	for _, sc := range sidecars {
		item = protowire.AppendBytes(protowire.AppendTag(item, 3, protowire.BytesType), sc)
	}
	first := time.Unix(0, rf.ConsensusStart)
	var blk []byte
	add := func(num protowire.Number, payload []byte) {
		var it []byte
		it = protowire.AppendBytes(protowire.AppendTag(it, num, protowire.BytesType), payload)
		blk = protowire.AppendBytes(protowire.AppendTag(blk, 1, protowire.BytesType), it)
	}
	add(1, mustMarshal(t, &hederapb.BlockHeader{HapiProtoVersion: hapi, Number: number,
		BlockTimestamp: &hederapb.Timestamp{Seconds: first.Unix(), Nanos: int32(first.Nanosecond())}}))
	add(10, item)
	empty := blockstream.EmptyHash[:]
	add(12, mustMarshal(t, &hederapb.BlockFooter{PreviousBlockRootHash: empty, RootHashOfAllBlockHashesTree: empty, StartOfBlockStateRootHash: empty}))
	add(9, mustMarshal(t, &hederapb.BlockProof{Block: number, Proof: &hederapb.BlockProof_SignedRecordFileProof{
		SignedRecordFileProof: &hederapb.SignedRecordFileProof{Version: uint32(rf.Version)}}}))
	return blk
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every real record file of the fixtures and the wrapped record block of
// the same file give the same documents (every member but the file they
// name), and the block's record file, rebuilt, has the file hash the
// fixtures publish.
func TestRecordFileAndItsWrappedBlock(t *testing.T) {
	streams := testkit.HederaStreams(t)
	expected := testkit.HederaExpected(t)
	var rels []string
	for rel := range expected {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	if len(rels) < 10 {
		t.Fatalf("expected.json lists %d record files", len(rels))
	}
	for i, rel := range rels {
		t.Run(rel, func(t *testing.T) {
			want := expected[rel]
			p, records := newTestParser(t)
			data, err := os.ReadFile(filepath.Join(streams, rel))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(rel)
			at, err := recordstream.NameTime(name)
			if err != nil {
				t.Fatal(err)
			}
			rf, err := recordstream.Parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			plain := data
			if strings.HasSuffix(name, ".gz") {
				plain = gunzip(t, data)
			}
			var sidecars [][]byte
			for _, sc := range rf.Sidecars {
				raw, err := os.ReadFile(filepath.Join(streams, filepath.Dir(rel), "sidecar", sc.Name))
				if err != nil {
					t.Fatal(err)
				}
				writeAt(t, records, at.UTC().Format(time.DateOnly)+"/sidecar/"+sc.Name, raw)
				sidecars = append(sidecars, gunzip(t, raw))
			}
			_, fromFile := documents(t, p, placeFile(t, records, at.UTC().Format(time.DateOnly), name, data))

			number := uint64(1000 + i)
			if rf.Version == 6 {
				number = uint64(rf.BlockNumber)
			}
			first := time.Unix(0, rf.ConsensusStart).UTC()
			blk := wrap(t, rf, plain, at, number, sidecars)
			d, fromBlock := documents(t, p, placeFile(t, records, first.Format(time.DateOnly), blockstream.FileName(number, blockstream.Plain), blk))
			sameDocuments(t, rel, fromFile, fromBlock)
			if d.sum.kind != state.KindWrapped || hex.EncodeToString(d.sum.fileHash) != want.FileHash || d.sum.count != want.Count ||
				hex.EncodeToString(d.sum.chainHash) != want.End || hex.EncodeToString(d.sum.prevHash) != want.Prev || d.sum.rootHash == nil {
				t.Errorf("wrapped block: kind %s, file hash %x, %d items, ends with %x, starts from %x; want the record file's %s, %d, %s, %s",
					d.sum.kind, d.sum.fileHash, d.sum.count, d.sum.chainHash, d.sum.prevHash, want.FileHash, want.Count, want.End, want.Prev)
			}
		})
	}
}

// expectedWrapped is what blockstreams-expected.json says of a wrapped
// record block's record file.
type expectedWrapped struct {
	Format     string `json:"format"`
	Number     uint64 `json:"block_number"`
	TimeNs     int64  `json:"block_timestamp_ns"`
	RecordFile *struct {
		Name     string `json:"name"`
		Version  int    `json:"version"`
		FileHash string `json:"file_hash"`
		Count    int    `json:"count"`
	} `json:"record_file"`
}

// Every wrapped record block of the fixtures gives the documents of its
// record file, rebuilt (with the file hash the fixtures publish) and read
// as a record file from the record stream would be, sidecars included.
func TestWrappedBlockFixtures(t *testing.T) {
	root := testkit.HederaFixtures(t)
	raw, err := os.ReadFile(filepath.Join(root, "blockstreams-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Files map[string]expectedWrapped `json:"files"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	n := 0
	for rel, want := range all.Files {
		if want.Format != "wrapped record block" {
			continue
		}
		n++
		t.Run(rel, func(t *testing.T) {
			p, records := newTestParser(t)
			data, err := os.ReadFile(filepath.Join(root, rel))
			if err != nil {
				t.Fatal(err)
			}
			c := blockstream.Zstd
			if strings.HasSuffix(rel, ".gz") {
				c = blockstream.Gzip
			}
			day := time.Unix(0, want.TimeNs).UTC().Format(time.DateOnly)
			d, fromBlock := documents(t, p, placeFile(t, records, day, blockstream.FileName(want.Number, c), data))
			if hex.EncodeToString(d.sum.fileHash) != want.RecordFile.FileHash || d.sum.count != want.RecordFile.Count ||
				d.sum.version != want.RecordFile.Version || d.sum.name != want.RecordFile.Name {
				t.Fatalf("rebuilt v%d %s with hash %x, %d items; want v%d %s %s, %d", d.sum.version, d.sum.name, d.sum.fileHash, d.sum.count,
					want.RecordFile.Version, want.RecordFile.Name, want.RecordFile.FileHash, want.RecordFile.Count)
			}
			// The record file itself, as the record stream would hold it
			// (its sidecars gzipped beside it).
			b, err := blockstream.Parse(filepath.Base(rel), data)
			if err != nil {
				t.Fatal(err)
			}
			wf, err := blockstream.RebuildRecordFile(b)
			if err != nil {
				t.Fatal(err)
			}
			at, _ := recordstream.NameTime(wf.File.Name)
			rday := at.UTC().Format(time.DateOnly)
			for _, meta := range wf.File.Sidecars {
				var gz bytes.Buffer
				zw := gzip.NewWriter(&gz)
				zw.Write(wf.Sidecars[meta.ID])
				zw.Close()
				writeAt(t, records, rday+"/sidecar/"+meta.Name, gz.Bytes())
			}
			_, fromFile := documents(t, p, placeFile(t, records, rday, wf.File.Name, wf.Bytes))
			sameDocuments(t, rel, fromFile, fromBlock)
		})
	}
	if n < 5 {
		t.Fatalf("%d wrapped record blocks in blockstreams-expected.json", n)
	}
}
