package intake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func event(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	e := map[string]any{"node": "3", "path": "2022-07-13/2022-07-13T08_46_11.304284003Z.rcd.gz", "kind": "record",
		"file_hash": strings.Repeat("ab", 48)}
	for k, v := range fields {
		e[k] = v
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A message's path becomes a file path only when it is exactly
// <the name's UTC day>/<record file name>; everything else is refused
// with the subject in the error.
func TestParseEvent(t *testing.T) {
	const subject = "hedera.records.downloaded.3"
	job, ok, err := ParseEvent(subject, event(t, nil))
	if err != nil || !ok {
		t.Fatalf("a good event: ok %v, %v", ok, err)
	}
	if job.Day != "2022-07-13" || job.Name != "2022-07-13T08_46_11.304284003Z.rcd.gz" || job.Node != "3" ||
		job.Rel() != "2022-07-13/2022-07-13T08_46_11.304284003Z.rcd.gz" || job.Stem() != "2022-07-13T08_46_11.304284003Z" ||
		job.FileHash != strings.Repeat("ab", 48) || job.Start.UTC().Format("15:04:05.000000000") != "08:46:11.304284003" {
		t.Errorf("job %+v", job)
	}
	for _, kind := range []string{"signature", "sidecar"} {
		if _, ok, err := ParseEvent(subject, event(t, map[string]any{"kind": kind})); ok || err != nil {
			t.Errorf("kind %s: ok %v, %v; want passed over without an error", kind, ok, err)
		}
	}
	for name, tc := range map[string]struct {
		subject string
		fields  map[string]any
	}{
		"not json":            {subject, nil},
		"unknown kind":        {subject, map[string]any{"kind": "index"}},
		"node not subject's":  {subject, map[string]any{"node": "4"}},
		"node not a number":   {"hedera.records.downloaded.x", map[string]any{"node": "x"}},
		"no day":              {subject, map[string]any{"path": "2022-07-13T08_46_11.304284003Z.rcd.gz"}},
		"parent dir":          {subject, map[string]any{"path": "2022-07-13/../2022-07-13T08_46_11.304284003Z.rcd.gz"}},
		"sub dir":             {subject, map[string]any{"path": "2022-07-13/sidecar/2022-07-13T08_46_11.304284003Z.rcd.gz"}},
		"absolute":            {subject, map[string]any{"path": "/etc/2022-07-13T08_46_11.304284003Z.rcd.gz"}},
		"wrong day":           {subject, map[string]any{"path": "2022-07-14/2022-07-13T08_46_11.304284003Z.rcd.gz"}},
		"not a record file":   {subject, map[string]any{"path": "2022-07-13/2022-07-13T08_46_11.304284003Z.rcd_sig"}},
		"not a time":          {subject, map[string]any{"path": "2022-07-13/passwd.rcd"}},
		"backslash":           {subject, map[string]any{"path": `2022-07-13/..\2022-07-13T08_46_11.304284003Z.rcd`}},
		"hash not hex":        {subject, map[string]any{"file_hash": strings.Repeat("zz", 48)}},
		"hash of wrong width": {subject, map[string]any{"file_hash": "abcd"}},
	} {
		data := event(t, tc.fields)
		if name == "not json" {
			data = []byte("{")
		}
		if _, ok, err := ParseEvent(tc.subject, data); err == nil || ok || !strings.Contains(err.Error(), tc.subject) {
			t.Errorf("%s: ok %v, error %v; want an error naming %s", name, ok, err, tc.subject)
		}
	}
}

// A block's event names its number twice (path and block_number), and
// its time; a block under kind record, or a record file under kind block,
// is refused.
func TestParseBlockEvent(t *testing.T) {
	// The record-downloader announces blocks on this subject, with no node
	// (proto/events/hedera.records.downloaded.schema.json).
	const subject = "hedera.records.downloaded.block"
	block := func(fields map[string]any) []byte {
		f := map[string]any{"kind": "block", "path": "2026-12-09/0000000000091500000.blk.zstd", "block_number": 91500000,
			"consensus_start": "2026-12-09T00:00:01.5Z", "node": nil}
		for k, v := range fields {
			f[k] = v
		}
		return event(t, f)
	}
	job, ok, err := ParseEvent(subject, block(nil))
	if err != nil || !ok {
		t.Fatalf("a good block event: ok %v, %v", ok, err)
	}
	if _, ok, err := ParseEvent("hedera.records.downloaded.3", block(nil)); err == nil || ok {
		t.Errorf("a block on a node's subject: ok %v, error %v; want refused", ok, err)
	}
	if job.Node != BlockToken {
		t.Errorf("a block's job is under %q, want %q", job.Node, BlockToken)
	}
	if !job.Block || job.Number != 91500000 || job.Day != "2026-12-09" || job.Stem() != "0000000000091500000" ||
		!job.Start.Equal(time.Date(2026, 12, 9, 0, 0, 1, 5e8, time.UTC)) || job.FileHash != strings.Repeat("ab", 48) {
		t.Errorf("job %+v", job)
	}
	for name, fields := range map[string]map[string]any{
		"number differs":      {"block_number": 91500001},
		"number missing":      {"block_number": nil},
		"record under block":  {"path": "2022-07-13/2022-07-13T08_46_11.304284003Z.rcd.gz"},
		"block under record":  {"kind": "record"},
		"short number":        {"path": "2026-12-09/91500000.blk.zstd"},
		"bucket path":         {"path": "2026-12-09/0000/0000/0009/1500/000.blk.zstd"},
		"day not a date":      {"path": "2026-13-09/0000000000091500000.blk.zstd"},
		"time not RFC 3339":   {"consensus_start": "yesterday"},
		"other extension":     {"path": "2026-12-09/0000000000091500000.blk.xz"},
		"traversal in number": {"path": "2026-12-09/../000000000091500000.blk"},
		"a node named":        {"node": "3"},
	} {
		if _, ok, err := ParseEvent(subject, block(fields)); err == nil || ok || !strings.Contains(err.Error(), subject) {
			t.Errorf("%s: ok %v, error %v; want an error naming %s", name, ok, err, subject)
		}
	}
}

// Day lists a day directory's record files in consensus order and
// reports what is not one, leaving signature files and directories out.
func TestDay(t *testing.T) {
	dir := t.TempDir()
	day := filepath.Join(dir, "2020-02-09")
	if err := os.MkdirAll(filepath.Join(day, "sidecar"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"2020-02-09T18_30_05.007359Z.rcd", "2020-02-09T18_30_00.000084Z.rcd.gz",
		"2020-02-09T18_30_00.000084Z.rcd_sig", "notes.txt", ".2020-02-09T18_30_10.000000Z.rcd.tmp-1", "2020-02-10T00_00_00.000000Z.rcd",
		"0000000000000000012.blk.zstd", "0000000000000000011.blk", "11.blk.gz", "0000000000000000013.blk.zip"} {
		if err := os.WriteFile(filepath.Join(day, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	jobs, skipped, err := Day(dir, "2020-02-09")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	// Record files by time, then blocks by number.
	if strings.Join(names, " ") != "2020-02-09T18_30_00.000084Z.rcd.gz 2020-02-09T18_30_05.007359Z.rcd 0000000000000000011.blk 0000000000000000012.blk.zstd" {
		t.Errorf("jobs %v", names)
	}
	if j := jobs[3]; !j.Block || j.Number != 12 || j.Stem() != "0000000000000000012" || !j.Start.IsZero() {
		t.Errorf("block job %+v", j)
	}
	// The file of another day is in the wrong directory: reported, not
	// parsed; so are block names that are not 19 digits and an extension.
	if strings.Join(skipped, " ") != "0000000000000000013.blk.zip 11.blk.gz 2020-02-10T00_00_00.000000Z.rcd notes.txt" {
		t.Errorf("skipped %v", skipped)
	}
	for _, marker := range []string{"../etc", "2020-02-9", "", "2020-02-10"} {
		if _, _, err := Day(dir, marker); err == nil {
			t.Errorf("marker %q: no error", marker)
		}
	}
}
