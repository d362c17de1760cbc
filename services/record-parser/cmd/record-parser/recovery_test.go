package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
)

// genStream writes n chained v6 record files of items mixed transactions
// each (gzipped, as nodes write them) into dir and returns their names.
func genStream(t testing.TB, dir string, n, items int, start time.Time) []string {
	t.Helper()
	hash := make([]byte, 48)
	var names []string
	for i := range n {
		at := start.Add(time.Duration(i) * 2 * time.Second)
		its := txgen.Items(items, int64(i+1), at)
		plain, err := recordstream.EncodeV6(recordstream.HAPIVersion{Major: 0, Minor: 50}, hash, int64(100+i), its, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := at.UTC().Format("2006-01-02T15_04_05.000000000Z") + ".rcd.gz"
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(plain)
		zw.Close()
		f, err := recordstream.Parse(name, gz.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		hash = f.EndRunningHash
		if err := os.WriteFile(filepath.Join(dir, name), gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// kill -9 at each point of a file's way through — NDJSON written and
// Elasticsearch not yet, Elasticsearch half written, everything written
// but not recorded, recorded but not announced — then a restart: the
// documents in Elasticsearch and the NDJSON files are exactly those of a
// run that was never interrupted, and each file is announced once.
func TestKillNineThenRestartGivesTheSameDocuments(t *testing.T) {
	src := filepath.Join(fixtures(t), "recordstreams", "performance", "v2")
	names := listRecords(t, src)[:2]
	index := "hedera-transactions-2020.02.09"

	ref := newHarness(t)
	ref.put(src, "3", names...)
	ref.mustRun(nil)
	wantDocs, wantNDJSON := ref.docs(index), ref.ndjson()
	if len(wantDocs) == 0 || len(wantNDJSON) != len(names) {
		t.Fatalf("the reference run wrote %d documents, %d NDJSON files", len(wantDocs), len(wantNDJSON))
	}

	for _, point := range []string{"after-ndjson", "between-bulk-chunks", "after-index", "after-record"} {
		t.Run(point, func(t *testing.T) {
			h := newHarness(t)
			h.put(src, "3", names...)
			// ACK_WAIT is short so the message the killed process held
			// comes back quickly.
			h.killAt(point, "ACK_WAIT=3")
			h.mustRun(nil, "ACK_WAIT=3")
			got := h.docs(index)
			if len(got) != len(wantDocs) {
				t.Errorf("%d documents, want %d", len(got), len(wantDocs))
			}
			for id, d := range wantDocs {
				if !bytes.Equal(got[id], d) {
					t.Errorf("document %s differs from the uninterrupted run's:\n%s\n%s", id, got[id], d)
					break
				}
			}
			nd := h.ndjson()
			if len(nd) != len(wantNDJSON) {
				t.Errorf("NDJSON files %v, want %v", sortedKeys(nd), sortedKeys(wantNDJSON))
			}
			for k, v := range wantNDJSON {
				if !bytes.Equal(nd[k], v) {
					t.Errorf("%s differs from the uninterrupted run's", k)
				}
			}
			assertNoTempFiles(t, h.out)
			seen := map[string]int{}
			for _, ev := range h.events() {
				seen[ev.File]++
			}
			for _, n := range names {
				if seen["2020-02-09/"+n] != 1 {
					t.Errorf("%s announced %d times, want once", n, seen["2020-02-09/"+n])
				}
			}
		})
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(filepath.Base(p), ".tmp") {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
}

// Two replicas on one consumer share the files: every file is parsed and
// announced once, every transaction indexed once, and the chain is whole
// although the two parse side by side.
func TestTwoReplicasParseEveryFileOnce(t *testing.T) {
	h := newHarness(t)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := t.TempDir()
	const files, items = 30, 50
	names := genStream(t, gen, files, items, start)
	for _, n := range names {
		h.put(gen, "3", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var procs []*exec.Cmd
	var logs []*bytes.Buffer
	for range 2 {
		c := exec.CommandContext(ctx, binary)
		c.Env = h.env("RUN_AS_SERVICE=true", "CHAIN_WAIT=20", "ACK_WAIT=30")
		var out bytes.Buffer
		c.Stderr = &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs, logs = append(procs, c), append(logs, &out)
	}
	for h.countFiles() < files && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range procs {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for i, c := range procs {
		if err := c.Wait(); err != nil {
			t.Errorf("replica %d: %v\n%s", i, err, logs[i])
		}
	}
	if n := len(h.parsedFiles()); n != files {
		t.Fatalf("%d files parsed, want %d", n, files)
	}
	seen := map[string]int{}
	for _, ev := range h.events() {
		seen[ev.File]++
	}
	for _, n := range names {
		if c := seen["2024-01-01/"+n]; c != 1 {
			t.Errorf("%s announced %d times", n, c)
		}
	}
	if n := len(h.docs("hedera-transactions-2024.01.01")); n != files*items {
		t.Errorf("%d documents, want %d", n, files*items)
	}
	if status := h.mustRun([]string{"status"}); !strings.Contains(status, "chain breaks: 0") {
		t.Errorf("status:\n%s", status)
	}
	for i, l := range logs {
		if strings.Contains(l.String(), "chain broken") {
			t.Errorf("replica %d reported a chain break:\n%s", i, l)
		}
	}
}
