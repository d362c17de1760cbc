package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backfill --marker parses a day directory in consensus order, like the
// original's --backfill-marker: the three 5,000-transaction load-test
// files chain, and every transaction becomes one document.
func TestBackfillDayDirectory(t *testing.T) {
	h := newHarness(t)
	src := filepath.Join(fixtures(t), "recordstreams", "performance", "v2")
	names := listRecords(t, src)
	day := "2020-02-09"
	// Written as the downloader would, but not announced: a backfill
	// reads the directory. A signature file and a stray file are left
	// alone.
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		h.write(day+"/"+n, data)
	}
	h.write(day+"/"+names[0]+"_sig", []byte("sig"))
	h.write(day+"/notes.txt", []byte("x"))

	out := h.mustRun([]string{"backfill", "--marker", day, "--node", "3"}, "NOTIFICATIONS=true")
	if !strings.Contains(out, "notes.txt") {
		t.Errorf("the stray file is not reported:\n%s", out)
	}
	want := expected(t)
	total := 0
	for _, n := range names {
		total += want["performance/v2/"+n].Count
	}
	if n := len(h.docs("hedera-transactions-2020.02.09")); n != total {
		t.Errorf("%d documents, want %d", n, total)
	}
	events := h.events()
	if len(events) != len(names) {
		t.Fatalf("%d events, want %d", len(events), len(names))
	}
	for i, ev := range events {
		e := want["performance/v2/"+names[i]]
		if ev.File != day+"/"+names[i] || ev.Count != e.Count || ev.Hash != e.FileHash || ev.PrevHash != e.Prev || ev.Node != "3" {
			t.Errorf("event %d (consensus order): %+v, want %s %+v", i, ev, names[i], e)
		}
	}
	if status := h.mustRun([]string{"status"}); !strings.Contains(status, "chain breaks: 0") || !strings.Contains(status, "last parsed: "+names[len(names)-1]) {
		t.Errorf("status:\n%s", status)
	}
	// Again: already parsed, nothing doubled; --force writes the same.
	h.mustRun([]string{"backfill", "--marker", day})
	before := h.ndjson()
	h.mustRun([]string{"backfill", "--marker", day, "--force"}, "NOTIFICATIONS=false")
	after := h.ndjson()
	for k, v := range before {
		if !bytes.Equal(after[k], v) {
			t.Errorf("%s changed on --force", k)
		}
	}
	if n := len(h.docs("hedera-transactions-2020.02.09")); n != total {
		t.Errorf("%d documents after --force, want %d", n, total)
	}
	code, out := h.run(binary, []string{"backfill", "--marker", "2020-02-10"})
	if code == 0 || !strings.Contains(out, "2020-02-10") {
		t.Errorf("a missing day: exit %d\n%s", code, out)
	}
	code, out = h.run(binary, []string{"backfill", "--marker", "../etc"})
	if code == 0 || !strings.Contains(out, "YYYY-MM-DD") {
		t.Errorf("a marker that is not a day: exit %d\n%s", code, out)
	}
}

// Truncated, corrupt, unknown-version and not-really-gzip files are
// quarantined with their reason and counted; the files after them are
// parsed (the chain policy here says continue: a quarantined file leaves
// a gap).
func TestBadFilesAreQuarantined(t *testing.T) {
	h := newHarness(t)
	src := filepath.Join(fixtures(t), "recordstreams", "v2", "record0.0.3")
	good, err := os.ReadFile(filepath.Join(src, "2019-08-30T18_10_00.419072Z.rcd"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0xff
	unknown := append([]byte{0, 0, 0, 9}, good[4:]...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good[:100])
	zw.Close()
	bad := map[string]struct {
		data   []byte
		reason string
	}{
		"2019-08-30T18_20_00.000000000Z.rcd":    {good[:len(good)-7], "truncated"},
		"2019-08-30T18_20_02.000000000Z.rcd":    {corrupt, "hash_mismatch"},
		"2019-08-30T18_20_04.000000000Z.rcd":    {unknown, "unsupported_version"},
		"2019-08-30T18_20_06.000000000Z.rcd.gz": {good, "bad_gzip"},
		"2019-08-30T18_20_08.000000000Z.rcd.gz": {gz.Bytes(), "truncated"},
	}
	for _, n := range sortedKeys(bad) {
		if bad[n].reason == "hash_mismatch" {
			// Changed on disk after the downloader verified it: the
			// event carries the hash the nodes signed.
			h.putAs(n, bad[n].data, hashOf(t, "good.rcd", good))
			continue
		}
		h.putBytes(src, "3", n, bad[n].data)
	}
	after := h.put(src, "3", "2019-08-30T18_10_05.249678Z.rcd")
	_ = after
	h.mustRun(nil, "ON_CHAIN_BREAK=continue")

	files := h.parsedFiles()
	for n, b := range bad {
		if files[n] != "quarantined" {
			t.Errorf("%s: %q in the state, want quarantined", n, files[n])
		}
		copyPath := filepath.Join(h.out, "_quarantine", "2019-08-30", n)
		data, err := os.ReadFile(copyPath)
		if err != nil || !bytes.Equal(data, b.data) {
			t.Errorf("%s: quarantined copy %v (%d bytes, want %d)", n, err, len(data), len(b.data))
		}
		reason, err := os.ReadFile(copyPath + ".reason")
		if err != nil || (b.reason != "" && !strings.Contains(string(reason), b.reason)) {
			t.Errorf("%s: reason %q (%v), want it to say %s", n, reason, err, b.reason)
		}
		if _, err := os.Stat(filepath.Join(h.records, "2019-08-30", n)); err != nil {
			t.Errorf("%s: the downloader's file was touched: %v", n, err)
		}
	}
	if files["2019-08-30T18_10_05.249678Z.rcd"] != "parsed" {
		t.Errorf("the good file after the bad ones: %q", files["2019-08-30T18_10_05.249678Z.rcd"])
	}
	if n := len(h.docs("hedera-transactions-2019.08.30")); n != expected(t)["v2/record0.0.3/2019-08-30T18_10_05.249678Z.rcd"].Count {
		t.Errorf("%d documents, want the good file's", n)
	}
	if nd := h.ndjson(); len(nd) != 1 {
		t.Errorf("NDJSON files %v: only the good file's", sortedKeys(nd))
	}
}

// Documents Elasticsearch refuses for good go to a dead-letter file with
// the reason; the file is acknowledged and nothing is silently lost.
func TestRefusedDocumentsGoToTheDeadLetterFile(t *testing.T) {
	h := newHarness(t)
	// An index made by hand with a mapping that contradicts ours: every
	// document with a string node is refused.
	index := "hedera-transactions-2019.08.30"
	h.createIndex(index, `{"mappings":{"properties":{"node":{"type":"long"}}}}`)
	src := filepath.Join(fixtures(t), "recordstreams", "v2", "record0.0.3")
	name := "2019-08-30T18_10_00.419072Z.rcd"
	h.put(src, "3", name)
	out := h.mustRun(nil)
	count := expected(t)["v2/record0.0.3/"+name].Count
	data, err := os.ReadFile(filepath.Join(h.out, "_deadletter", "2019-08-30", "2019-08-30T18_10_00.419072Z.ndjson"))
	if err != nil {
		t.Fatalf("no dead-letter file: %v\n%s", err, out)
	}
	dead := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(dead)+len(h.docs(index)) != count {
		t.Errorf("%d dead letters + %d indexed, want %d in all", len(dead), len(h.docs(index)), count)
	}
	nd := lines(t, h.ndjson()["2019-08-30/2019-08-30T18_10_00.419072Z.ndjson"])
	for _, l := range dead {
		var d deadLine
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatal(err)
		}
		if d.Index != index || d.Status != 400 || d.Type == "" || d.Reason == "" || !bytes.Equal(nd[d.ID], d.Document) {
			t.Errorf("dead letter %+v: want index, 400, the ES error and the document as in NDJSON", d)
		}
	}
	if files := h.parsedFiles(); files[name] != "parsed" {
		t.Errorf("state %v", files)
	}
}

type deadLine struct {
	Index    string          `json:"index"`
	ID       string          `json:"id"`
	Status   int             `json:"status"`
	Type     string          `json:"type"`
	Reason   string          `json:"reason"`
	Document json.RawMessage `json:"document"`
}
