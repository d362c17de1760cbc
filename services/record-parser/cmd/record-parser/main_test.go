package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tributary.dev/libs/testkit/svc"
)

func TestHelpListsEveryVariable(t *testing.T) {
	out := svc.CheckHelp(t, binary, "../../README.md", &Config{})
	for _, verb := range []string{"backfill --marker", "reparse DAY/FILE", "status", "resume"} {
		if !strings.Contains(out, "record-parser "+verb) {
			t.Errorf("--help lacks the verb %q", verb)
		}
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"OUTPUT_DIR=", "ELASTICSEARCH_URL="}, "set at least one output"},
		{[]string{"ON_CHAIN_BREAK=maybe"}, "ON_CHAIN_BREAK"},
		{[]string{"NETWORK=Main Net"}, "NETWORK"},
		{[]string{"ELASTICSEARCH_URL=ftp://x"}, "ELASTICSEARCH_URL"},
		{[]string{"CONCURRENCY=0"}, "CONCURRENCY"},
		{[]string{"PARSED_DEDUP_WINDOW=7200", "PARSED_MAX_AGE=3600"}, "PARSED_DEDUP_WINDOW"},
		{[]string{"PARSED_MAX_BYTES=0"}, "PARSED_MAX_BYTES"},
		{[]string{"CHAIN_WAIT=-1"}, "CHAIN_WAIT"},
	} {
		code, out := h.run(binary, nil, tc.env...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want an error naming %s:\n%s", tc.env, code, tc.want, out)
		}
	}
}

// The v6 pair with its sidecar, through the stream: every transaction is a
// document in Elasticsearch and in NDJSON, identical in both, the sidecar
// linked to its transaction, every file announced once with the values
// expected.json publishes.
func TestV6FilesWithSidecarThroughTheStream(t *testing.T) {
	h := newHarness(t)
	src := filepath.Join(fixtures(t), "recordstreams", "v6", "record0.0.3")
	names := []string{"2022-07-13T08_46_08.041986003Z.rcd.gz", "2022-07-13T08_46_11.304284003Z.rcd.gz"}
	rels := h.put(src, "3", names...)
	h.mustRun(nil)

	want := expected(t)
	index := "hedera-transactions-2022.07.13"
	docs := h.docs(index)
	total := 0
	for _, n := range names {
		total += want["v6/record0.0.3/"+n].Count
	}
	if len(docs) != total {
		t.Fatalf("%s holds %d documents, want %d (expected.json counts)", index, len(docs), total)
	}
	nd := h.ndjson()
	if len(nd) != len(names) {
		t.Fatalf("NDJSON files %v, want one per record file", sortedKeys(nd))
	}
	for i, n := range names {
		e := want["v6/record0.0.3/"+n]
		rel := "2022-07-13/" + strings.TrimSuffix(n, ".rcd.gz") + ".ndjson"
		got := lines(t, nd[rel])
		if len(got) != e.Count {
			t.Errorf("%s: %d lines, want %d", rel, len(got), e.Count)
		}
		for id, line := range got {
			if !bytes.Equal(docs[id], line) {
				t.Errorf("%s: document %s differs between NDJSON and Elasticsearch:\n%s\n%s", rel, id, line, docs[id])
			}
		}
		if _, ok := got[fmt.Sprintf("%d.%09d", e.StartNs/1e9, e.StartNs%1e9)]; !ok {
			t.Errorf("%s: no document for the first consensus time %d", rel, e.StartNs)
		}
		_ = rels[i]
	}
	// The second file's sidecar (state changes and bytecode) belongs to
	// its transactions by consensus timestamp.
	withSidecar := 0
	for id, d := range docs {
		var doc struct {
			Sidecars []struct {
				Type string `json:"type"`
			} `json:"sidecars"`
			RecordFile  string `json:"record_file"`
			BlockNumber *int64 `json:"block_number"`
		}
		if err := json.Unmarshal(d, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.BlockNumber == nil {
			t.Errorf("%s: a v6 document without block_number", id)
		}
		if len(doc.Sidecars) > 0 {
			withSidecar++
			if doc.RecordFile != names[1] || *doc.BlockNumber != 6 {
				t.Errorf("%s: sidecar records on a document of %s block %d, want %s block 6", id, doc.RecordFile, *doc.BlockNumber, names[1])
			}
		}
	}
	if withSidecar == 0 {
		t.Error("no document carries the sidecar's records")
	}

	events := h.events()
	if len(events) != len(names) {
		t.Fatalf("%d parsed events, want %d: %+v", len(events), len(names), events)
	}
	for i, ev := range events {
		e := want["v6/record0.0.3/"+names[i]]
		if ev.File != rels[i] || ev.Node != "3" || ev.FormatVersion != 6 || ev.Count != e.Count || ev.Hash != e.End || ev.PrevHash != e.Prev ||
			ev.Index == nil || *ev.Index != index || ev.NDJSON == nil {
			t.Errorf("event %d: %+v, want file %s, count %d, hash %s, prev %s, index %s", i, ev, rels[i], e.Count, e.End, e.Prev, index)
		}
	}
	if events[1].Sidecars != 1 || events[1].BlockNumber == nil || *events[1].BlockNumber != 6 {
		t.Errorf("second event: sidecars %d block %v, want 1 sidecar, block 6", events[1].Sidecars, events[1].BlockNumber)
	}
	if files := h.parsedFiles(); len(files) != 2 || files[names[0]] != "parsed" || files[names[1]] != "parsed" {
		t.Errorf("state: %v", files)
	}

	// Run again: nothing pending, nothing doubled.
	h.mustRun(nil)
	if n := len(h.events()); n != len(names) {
		t.Errorf("a second run announced again: %d events", n)
	}
	if n := len(h.docs(index)); n != total {
		t.Errorf("a second run changed the document count to %d", n)
	}
}

// Chains across version changes (v2→v5, v5→v6) are whole; the eth-0.26.0
// pair is not consecutive, and the chain check says so: with
// ON_CHAIN_BREAK=stop the second file waits for an operator, who sees the
// break in `status` and lets it go on with `resume`.
func TestChainAcrossVersionsAndTheBreak(t *testing.T) {
	for _, ds := range []struct{ dataset, day string }{{"v2v5", "2021-01-21"}, {"v5v6", "2022-06-21"}} {
		t.Run(ds.dataset, func(t *testing.T) {
			h := newHarness(t)
			src := filepath.Join(fixtures(t), "recordstreams", ds.dataset, "record0.0.3")
			names := listRecords(t, src)
			h.put(src, "3", names...)
			h.mustRun(nil)
			if out := h.mustRun([]string{"status"}); !strings.Contains(out, "chain breaks: 0") || !strings.Contains(out, "halted: no") {
				t.Errorf("status after %s:\n%s", ds.dataset, out)
			}
			if files := h.parsedFiles(); len(files) != len(names) {
				t.Errorf("parsed %v, want %v", files, names)
			}
			want := expected(t)
			for i, ev := range h.events() {
				if e := want[ds.dataset+"/record0.0.3/"+names[i]]; ev.Hash != e.End || ev.PrevHash != e.Prev || ev.FormatVersion != e.Version {
					t.Errorf("event %d: %+v, want %+v", i, ev, e)
				}
			}
		})
	}
	t.Run("eth-0.26.0 stop", func(t *testing.T) {
		h := newHarness(t)
		src := filepath.Join(fixtures(t), "recordstreams", "eth-0.26.0", "record0.0.3")
		names := listRecords(t, src)
		h.put(src, "3", names...)
		code, out := h.run(binary, nil, "ON_CHAIN_BREAK=stop")
		if code == 0 || !strings.Contains(out, "halted") {
			t.Fatalf("exit %d, want a failure saying the stream is halted:\n%s", code, out)
		}
		if !strings.Contains(out, "chain broken") {
			t.Errorf("no chain-broken error in the log:\n%s", out)
		}
		if files := h.parsedFiles(); len(files) != 1 || files[names[0]] != "parsed" {
			t.Fatalf("state %v: only the first file may be parsed", files)
		}
		if n := len(h.events()); n != 1 {
			t.Errorf("%d events while halted, want 1", n)
		}
		status := h.mustRun([]string{"status"})
		if !strings.Contains(status, "halted: yes, at "+names[1]) || !strings.Contains(status, "chain breaks: 1") || !strings.Contains(status, names[1]+" after "+names[0]) {
			t.Errorf("status:\n%s", status)
		}
		if out := h.mustRun([]string{"resume"}); !strings.Contains(out, "accepted: "+names[1]) {
			t.Errorf("resume:\n%s", out)
		}
		h.mustRun(nil, "ON_CHAIN_BREAK=stop")
		if files := h.parsedFiles(); len(files) != 2 {
			t.Errorf("after resume: %v", files)
		}
		want := expected(t)
		total := want["eth-0.26.0/record0.0.3/"+names[0]].Count + want["eth-0.26.0/record0.0.3/"+names[1]].Count
		if n := len(h.docs("hedera-transactions-2022.04.28")); n != total {
			t.Errorf("%d documents after resume, want %d", n, total)
		}
	})
	t.Run("eth-0.26.0 continue", func(t *testing.T) {
		h := newHarness(t)
		src := filepath.Join(fixtures(t), "recordstreams", "eth-0.26.0", "record0.0.3")
		names := listRecords(t, src)
		h.put(src, "3", names...)
		out := h.mustRun(nil, "ON_CHAIN_BREAK=continue")
		if !strings.Contains(out, "chain broken") {
			t.Errorf("no chain-broken error in the log:\n%s", out)
		}
		if files := h.parsedFiles(); len(files) != 2 {
			t.Errorf("state %v: both files go on", files)
		}
		if status := h.mustRun([]string{"status"}); !strings.Contains(status, "chain breaks: 1") || !strings.Contains(status, "halted: no") {
			t.Errorf("status:\n%s", status)
		}
	})
}

func listRecords(t testing.TB, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".rcd") || strings.HasSuffix(n, ".rcd.gz")) {
			out = append(out, n)
		}
	}
	if len(out) < 2 {
		t.Fatalf("%s: %v, want a pair of record files", dir, out)
	}
	return out
}
