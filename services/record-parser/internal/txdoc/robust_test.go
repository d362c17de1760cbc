package txdoc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
)

// An item whose bytes do not decode still gets a document: its times, file
// and index, name UNKNOWN, what failed, and the raw bytes.
func TestUndecodableItem(t *testing.T) {
	good := txgen.Items(1, 1, time.Unix(1700000000, 5))[0]
	cases := []struct {
		name string
		it   recordstream.Item
		want string
	}{
		{"truncated transaction", recordstream.Item{Transaction: good.Transaction[:len(good.Transaction)/2], Record: good.Record, ConsensusNs: good.ConsensusNs}, "decoding"},
		{"no body", recordstream.Item{Transaction: nil, Record: good.Record, ConsensusNs: good.ConsensusNs}, "no body"},
		{"garbage record", recordstream.Item{Transaction: good.Transaction, Record: []byte{0xff, 0xff, 0xff}, ConsensusNs: good.ConsensusNs}, "decoding TransactionRecord"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, meta := NewEncoder(Options{}).Append(nil, Source{File: "x.rcd"}, 3, c.it, nil)
			var doc map[string]any
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if meta.Name != "UNKNOWN" || doc["name"] != "UNKNOWN" || meta.ParseError == "" || !bytes.Contains([]byte(meta.ParseError), []byte(c.want)) {
				t.Errorf("meta %+v, name %v", meta, doc["name"])
			}
			if doc["parse_error"] != meta.ParseError || doc["consensus_timestamp"] != "1700000000.000000005" && doc["consensus_timestamp"] != ID(c.it.ConsensusNs) {
				t.Errorf("doc %v", doc)
			}
			if doc["raw_transaction"] != base64.StdEncoding.EncodeToString(c.it.Transaction) || doc["raw_record"] != base64.StdEncoding.EncodeToString(c.it.Record) {
				t.Errorf("raw bytes not kept: %v %v", doc["raw_transaction"], doc["raw_record"])
			}
			if doc["record_file"] != "x.rcd" || doc["index_in_file"] != float64(3) {
				t.Errorf("record_file %v index_in_file %v", doc["record_file"], doc["index_in_file"])
			}
		})
	}
}

func TestID(t *testing.T) {
	for ns, want := range map[int64]string{
		1657701971304284003: "1657701971.304284003",
		1567188600762801000: "1567188600.762801000",
		5:                   "0.000000005",
		-1:                  "-1.999999999",
	} {
		if got := ID(ns); got != want {
			t.Errorf("ID(%d) = %q, want %q", ns, got, want)
		}
	}
}

// Memos and error messages are arbitrary bytes; strings must stay valid
// JSON and keep every valid rune.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", "quote\" back\\ nl\n tab\t \x00 \x1f", "\xff\xfe bad", "é 中 😀", "\u2028"} {
		out := appendString(nil, []byte(s))
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: %v: %s", s, err, out)
		}
		want := string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
		if got != want && !bytes.Contains(out, []byte(`\ufffd`)) {
			t.Errorf("%q round-trips to %q", s, got)
		}
	}
}

// The same item always encodes to the same bytes, and reusing an Encoder
// leaves nothing of the previous item behind.
func TestDeterministic(t *testing.T) {
	items := txgen.Items(500, 11, time.Unix(1700000000, 0))
	reused := NewEncoder(Options{})
	for i, it := range items {
		a, _ := reused.Append(nil, Source{File: "f.rcd", BlockNumber: 9, HasBlock: true}, i, it, nil)
		b, _ := NewEncoder(Options{}).Append(nil, Source{File: "f.rcd", BlockNumber: 9, HasBlock: true}, i, it, nil)
		if !bytes.Equal(a, b) {
			t.Fatalf("item %d: reused encoder\n%s\nfresh\n%s", i, a, b)
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, it := range txgen.Items(20, 5, time.Unix(1700000000, 0)) {
		f.Add(it.Transaction, it.Record, it.ConsensusNs)
	}
	f.Add([]byte{}, []byte{}, int64(0))
	enc := NewEncoder(Options{})
	f.Fuzz(func(t *testing.T, tx, rec []byte, ns int64) {
		out, meta := enc.Append(nil, Source{File: "f\x00\"\xff.rcd"}, 0, recordstream.Item{Transaction: tx, Record: rec, ConsensusNs: ns}, nil)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		if meta.ID != ID(ns) || meta.Name == "" {
			t.Fatalf("meta %+v for ns %d", meta, ns)
		}
	})
}
