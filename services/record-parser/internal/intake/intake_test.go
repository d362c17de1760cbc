package intake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// Day lists a day directory's record files in consensus order and
// reports what is not one, leaving signature files and directories out.
func TestDay(t *testing.T) {
	dir := t.TempDir()
	day := filepath.Join(dir, "2020-02-09")
	if err := os.MkdirAll(filepath.Join(day, "sidecar"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"2020-02-09T18_30_05.007359Z.rcd", "2020-02-09T18_30_00.000084Z.rcd.gz",
		"2020-02-09T18_30_00.000084Z.rcd_sig", "notes.txt", ".2020-02-09T18_30_10.000000Z.rcd.tmp-1", "2020-02-10T00_00_00.000000Z.rcd"} {
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
	if strings.Join(names, " ") != "2020-02-09T18_30_00.000084Z.rcd.gz 2020-02-09T18_30_05.007359Z.rcd" {
		t.Errorf("jobs %v", names)
	}
	// The file of another day is in the wrong directory: reported, not parsed.
	if strings.Join(skipped, " ") != "2020-02-10T00_00_00.000000Z.rcd notes.txt" {
		t.Errorf("skipped %v", skipped)
	}
	for _, marker := range []string{"../etc", "2020-02-9", "", "2020-02-10"} {
		if _, _, err := Day(dir, marker); err == nil {
			t.Errorf("marker %q: no error", marker)
		}
	}
}
