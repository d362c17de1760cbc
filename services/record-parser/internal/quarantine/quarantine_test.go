package quarantine

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/ndjson"
)

// fixture reads one of the real record files, the kind of bytes Put gets.
func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	path := filepath.Join(testkit.HederaStreams(t), filepath.FromSlash(rel))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("Hedera fixture %s: %v: the repository holds them in testdata/hedera", rel, err)
	}
	return data
}

// root is a quarantine directory as the service writes it.
func root(t *testing.T) *ndjson.Dir {
	t.Helper()
	d, err := ndjson.NewDir(t.TempDir(), ndjson.Self("service"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPut(t *testing.T) {
	dir := root(t)
	name := "2022-07-13T08_46_11.304284003Z.rcd.gz"
	data := fixture(t, "v6/record0.0.3/"+name)
	cause := errors.New("sidecar 01: hash mismatch")
	before := time.Now().Add(-time.Second)
	got, err := Put(dir, name, data, "sidecar", cause)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := recordstream.NameTime(name)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir.Root(), ts.UTC().Format("2006-01-02"), name)
	if got != want {
		t.Fatalf("path %s, want %s", got, want)
	}
	copied, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(copied, data) {
		t.Fatalf("copy differs from the original (%d bytes, want %d): %v", len(copied), len(data), err)
	}
	raw, err := os.ReadFile(got + ReasonSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var note Note
	if err := json.Unmarshal(raw, &note); err != nil {
		t.Fatalf("reason file %q: %v", raw, err)
	}
	if note.File != name || note.Reason != "sidecar" || note.Error != cause.Error() ||
		note.Time.Before(before) || note.Time.After(time.Now()) {
		t.Errorf("reason %+v", note)
	}
	ents, _ := os.ReadDir(filepath.Dir(got))
	if len(ents) != 2 {
		t.Errorf("day dir holds %d entries, want the copy and its reason", len(ents))
	}

	// Again (a redelivery): replaced, not duplicated.
	if _, err := Write(dir, Entry{Name: name, Data: data, Reason: "sidecar", Source: "/records/2022-07-13/" + name}); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(got + ReasonSuffix)
	note = Note{}
	if err := json.Unmarshal(raw, &note); err != nil || note.Source != "/records/2022-07-13/"+name || note.Error != "" {
		t.Errorf("second reason %+v, %v", note, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(got)); len(ents) != 2 {
		t.Errorf("after a second Put the day dir holds %d entries", len(ents))
	}
}

// Remove takes the copy and its reason away, and only those.
func TestRemove(t *testing.T) {
	dir := root(t)
	name := "2022-07-13T08_46_11.304284003Z.rcd.gz"
	other := "2022-07-13T08_46_08.041986003Z.rcd.gz"
	for _, n := range []string{name, other} {
		if _, err := Put(dir, n, []byte("x"), "truncated", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := Remove(dir, name); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir.Root(), "2022-07-13"))
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != other+" "+other+ReasonSuffix {
		t.Errorf("after Remove the day holds %v, want only the other file and its reason", left)
	}
	if err := Remove(dir, name); err != nil {
		t.Errorf("Remove of a file no longer there: %v", err)
	}
	if err := Remove(dir, "../"+name); err == nil {
		t.Error("Remove of a path, not a name: no error")
	}
}

func TestPutRefusesNames(t *testing.T) {
	dir := root(t)
	for _, name := range []string{
		"",
		"..",
		"../2022-07-13T08_46_11.304284003Z.rcd",
		"2022-07-13/2022-07-13T08_46_11.304284003Z.rcd",
		`..\2022-07-13T08_46_11.304284003Z.rcd`,
		"/etc/2022-07-13T08_46_11.304284003Z.rcd",
		"passwd",
		"notes.txt",
	} {
		if p, err := Put(dir, name, []byte("x"), "bad", nil); err == nil {
			t.Errorf("Put(%q) wrote %s", name, p)
		} else if !strings.Contains(err.Error(), "quarantine") {
			t.Errorf("Put(%q): error %q does not say what failed", name, err)
		}
	}
	var n int
	_ = filepath.WalkDir(dir.Root(), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Errorf("%d files written for refused names", n)
	}
}

// A block's name carries no time: its copy goes in the day directory
// given, which must be a date; its name must be bare.
func TestPutInDay(t *testing.T) {
	root := t.TempDir()
	dir, err := ndjson.NewDir(root, ndjson.Self("service"))
	if err != nil {
		t.Fatal(err)
	}
	where, err := PutIn(dir, "2026-12-09", "0000000000091500000.blk.zstd", []byte("block"), "misnamed", errors.New("the name says another block"))
	if err != nil {
		t.Fatal(err)
	}
	if where != filepath.Join(root, "2026-12-09", "0000000000091500000.blk.zstd") {
		t.Errorf("copy at %s", where)
	}
	if _, err := os.Stat(where + ReasonSuffix); err != nil {
		t.Error(err)
	}
	if err := RemoveIn(dir, "2026-12-09", "0000000000091500000.blk.zstd"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(where); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy still there: %v", err)
	}
	for _, c := range []struct{ day, name string }{{"2026-13-01", "x.blk"}, {"../etc", "x.blk"}, {"2026-12-09", "../x.blk"}, {"2026-12-09", ""}} {
		if _, err := PutIn(dir, c.day, c.name, nil, "r", nil); err == nil {
			t.Errorf("day %q name %q: no error", c.day, c.name)
		}
	}
}
