package ndjson

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// dir is an output root written by this process as kind.
func dir(t *testing.T, root, kind string) *Dir {
	t.Helper()
	d, err := NewDir(root, Self(kind))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCommit(t *testing.T) {
	root := t.TempDir()
	d := dir(t, root, "service")
	rel := "2022-07-13/2022-07-13T08_46_11.304284003Z.ndjson"
	path := filepath.Join(root, filepath.FromSlash(rel))
	f, err := d.Create(rel)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path() != path {
		t.Errorf("Path %s, want %s", f.Path(), path)
	}
	// Larger than the buffer, so some of it reaches the temp file early.
	line := []byte(`{"consensus_timestamp":"1657701971.304284003"}` + "\n")
	want := bytes.Repeat(line, (bufSize/len(line))*2+3)
	if _, err := f.Write(want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s visible before Commit: %v", path, err)
	}
	if got := names(t, filepath.Dir(path)); len(got) != 0 {
		t.Fatalf("before Commit the day dir holds %v, want nothing", got)
	}
	got := names(t, filepath.Join(root, TempDir))
	if len(got) != 1 {
		t.Fatalf("before Commit %s holds %v, want one temp file", TempDir, got)
	}
	owner, target, ok := ParseTemp(got[0])
	if !ok || owner != Self("service") || target != filepath.Base(path) {
		t.Fatalf("temp file %s: owner %+v, target %s, ok %v; want this process's, for %s", got[0], owner, target, ok, filepath.Base(path))
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("content: %d bytes, want %d", len(data), len(want))
	}
	if got := names(t, filepath.Dir(path)); len(got) != 1 || got[0] != filepath.Base(path) {
		t.Errorf("after Commit the dir holds %v", got)
	}
	if got := names(t, filepath.Join(root, TempDir)); len(got) != 0 {
		t.Errorf("after Commit %s holds %v", TempDir, got)
	}
	f.Abort() // a no-op after Commit
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Abort after Commit removed the file: %v", err)
	}
	if _, err := f.Write(line); err == nil {
		t.Error("Write after Commit succeeded")
	}
}

func TestCommitReplaces(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "x.ndjson")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := dir(t, root, "backfill").Create("x.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "old\n" {
		t.Fatalf("before Commit: %q", data)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "new\n" {
		t.Fatalf("after Commit: %q", data)
	}
}

func TestAbort(t *testing.T) {
	root := t.TempDir()
	f, err := dir(t, root, "service").Create("2020-02-09/a.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	f.Abort()
	for _, d := range []string{"2020-02-09", TempDir} {
		if got := names(t, filepath.Join(root, d)); len(got) != 0 {
			t.Errorf("after Abort %s holds %v", d, got)
		}
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

// MkdirAll makes every missing level, and a path through a file is an
// error, not a silent success.
func TestMkdirAll(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := MkdirAll(deep); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(deep); err != nil || !fi.IsDir() {
		t.Fatalf("%s: %v", deep, err)
	}
	if err := MkdirAll(deep); err != nil {
		t.Errorf("again: %v", err)
	}
	file := filepath.Join(root, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(filepath.Join(file, "x")); err == nil {
		t.Error("a directory below a file: no error")
	}
	if err := MkdirAll(file); err == nil {
		t.Error("a file taken for a directory: no error")
	}
}

func TestParseTemp(t *testing.T) {
	for name, want := range map[string]*Owner{
		"2022-07-13T08_46_11.304284003Z.ndjson.service.parser-0.1.0123456789abcdef.tmp":     {Kind: "service", Host: "parser-0", PID: 1},
		"2022-07-13T08_46_11.304284003Z.rcd.gz.reason.reparse.h.42.0123456789abcdef.tmp":    {Kind: "reparse", Host: "h", PID: 42},
		".service.parser-0.1.0123456789abcdef.tmp":                                          nil, // no target
		"x.ndjson.service.parser-0.1.0123456789abcde.tmp":                                   nil, // 15 hex
		"x.ndjson.service.parser-0.0.0123456789abcdef.tmp":                                  nil, // pid 0
		"x.ndjson.Service.parser-0.1.0123456789abcdef.tmp":                                  nil, // kind not lower-case
		"x.ndjson.service.parser-0.1.0123456789abcdef":                                      nil, // no suffix
		".x.ndjson.tmp-0123456789abcdef":                                                    nil, // the old form
		"x.ndjson.service.parser_0.1.0123456789abcdef.tmp":                                  nil, // host not safe
		"2022-07-13T08_46_11.304284003Z.ndjson.service.parser-0.1.0123456789abcdef.tmp.tmp": nil,
	} {
		got, _, ok := ParseTemp(name)
		if want == nil {
			if ok {
				t.Errorf("%s: parsed as %+v", name, got)
			}
			continue
		}
		if !ok || got != *want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, ok, *want)
		}
	}
}

// crashEnv makes the test binary, run as a child, write a file and exit
// without Commit, as a process killed mid-file does.
const (
	crashEnv     = "NDJSON_TEST_CRASH_ROOT"
	crashKindEnv = "NDJSON_TEST_CRASH_KIND"
)

func TestMain(m *testing.M) {
	if root := os.Getenv(crashEnv); root != "" {
		d, err := NewDir(root, Self(os.Getenv(crashKindEnv)))
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(2)
		}
		f, err := d.Create("2022-07-13/crashed.ndjson")
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(2)
		}
		if _, err := f.Write(bytes.Repeat([]byte("{}\n"), bufSize)); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crash runs a child process of kind that dies with a temp file written.
func crash(t *testing.T, root, kind string) string {
	t.Helper()
	before := map[string]bool{}
	for _, n := range names(t, filepath.Join(root, TempDir)) {
		before[n] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+root, crashKindEnv+"="+kind)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	for _, n := range names(t, filepath.Join(root, TempDir)) {
		if !before[n] {
			return n
		}
	}
	t.Fatal("the child left no temp file")
	return ""
}

// Clean at start removes what a dead process of its own kind left on its
// host, and an old leftover of its kind from a host that is gone; it
// leaves a live process's temp file, another kind's (a backfill beside the
// service), a fresh one of another host (a replica writing now), and
// anything outside the .tmp directory.
func TestClean(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, TempDir), 0o755); err != nil {
		t.Fatal(err)
	}
	dead := crash(t, root, "service")
	deadBackfill := crash(t, root, "backfill")
	if _, err := os.Stat(filepath.Join(root, "2022-07-13", "crashed.ndjson")); !os.IsNotExist(err) {
		t.Fatalf("the file a crashed process did not commit exists: %v", err)
	}

	// A live process of this host: a child that sleeps.
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	me := Self("service")
	put := func(name string, age time.Duration) string {
		p := filepath.Join(root, TempDir, name)
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			old := time.Now().Add(-age)
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return name
	}
	const rnd = ".0123456789abcdef.tmp"
	live := put(fmt.Sprintf("a.ndjson.service.%s.%d%s", me.Host, sleeper.Process.Pid, rnd), 0)
	otherHost := put("b.ndjson.service.another-replica.1"+rnd, 0)
	otherHostOld := put("c.ndjson.service.a-replica-gone.1"+rnd, 2*OrphanAge)
	otherKindOld := put("d.ndjson.backfill.a-replica-gone.1"+rnd, 2*OrphanAge)
	foreign := put("notes.txt", 2*OrphanAge)
	// The old form, beside its target: Clean does not walk the days.
	oldForm := filepath.Join(root, "2022-07-13", ".x.ndjson.tmp-0123456789abcdef")
	if err := os.MkdirAll(filepath.Dir(oldForm), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldForm, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	n, err := dir(t, root, "service").Clean()
	if err != nil || n != 2 {
		t.Fatalf("Clean: removed %d, %v; want 2 (the dead service's, the old one of a host gone)", n, err)
	}
	left := map[string]bool{}
	for _, name := range names(t, filepath.Join(root, TempDir)) {
		left[name] = true
	}
	for _, gone := range []string{dead, otherHostOld} {
		if left[gone] {
			t.Errorf("%s is still there", gone)
		}
	}
	for _, kept := range []string{deadBackfill, live, otherHost, otherKindOld, foreign} {
		if !left[kept] {
			t.Errorf("%s was removed", kept)
		}
	}
	if _, err := os.Stat(oldForm); err != nil {
		t.Errorf("a file outside %s was touched: %v", TempDir, err)
	}

	// A backfill's Clean takes its own kind's dead leftover only.
	if n, err := dir(t, root, "backfill").Clean(); err != nil || n != 2 {
		t.Errorf("backfill Clean: removed %d, %v; want its dead one and its old orphan", n, err)
	}
	if n, err := dir(t, filepath.Join(root, "missing"), "service").Clean(); n != 0 || err != nil {
		t.Errorf("Clean of a missing root: %d, %v", n, err)
	}
}

func TestNewDirRefusesBadOwners(t *testing.T) {
	for _, o := range []Owner{{Kind: "", Host: "h", PID: 1}, {Kind: "Svc", Host: "h", PID: 1}, {Kind: "svc", Host: "a.b", PID: 1}, {Kind: "svc", Host: "h", PID: 0}} {
		if _, err := NewDir(t.TempDir(), o); err == nil {
			t.Errorf("owner %+v accepted", o)
		}
	}
	if _, err := NewDir("", Self("service")); err == nil {
		t.Error("empty root accepted")
	}
}
