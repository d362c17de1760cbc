package ndjson

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

func TestCommit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "2022-07-13")
	path := filepath.Join(dir, "2022-07-13T08_46_11.304284003Z.ndjson")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
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
	got := names(t, dir)
	if len(got) != 1 || !IsTemp(got[0]) || !strings.HasPrefix(got[0], "."+filepath.Base(path)) {
		t.Fatalf("before Commit the dir holds %v, want one temp file", got)
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
	if got := names(t, dir); len(got) != 1 || got[0] != filepath.Base(path) {
		t.Errorf("after Commit the dir holds %v", got)
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
	path := filepath.Join(t.TempDir(), "x.ndjson")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path)
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
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "a.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	f.Abort()
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("after Abort the dir holds %v", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

// crashEnv makes the test binary, run as a child, write a file and exit
// without Commit, as a process killed mid-file does.
const crashEnv = "NDJSON_TEST_CRASH_PATH"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		f, err := Create(path)
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

func TestCrashLeavesOnlyTemp(t *testing.T) {
	root := t.TempDir()
	day := filepath.Join(root, "2022-07-13")
	path := filepath.Join(day, "crashed.ndjson")
	// A real file whose name only resembles a temp file must survive.
	lookalikes := []string{".x.ndjson.tmp-notatemp", "y.ndjson.tmp-0123456789abcdef", ".tmp-0123456789abcdef"}
	if err := os.MkdirAll(day, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range append(lookalikes, "kept.ndjson") {
		if err := os.WriteFile(filepath.Join(day, n), []byte("real\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s exists after a crash before Commit: %v", path, err)
	}
	var temps []string
	for _, n := range names(t, day) {
		if IsTemp(n) {
			temps = append(temps, n)
		}
	}
	if len(temps) != 1 || !strings.HasPrefix(temps[0], ".crashed.ndjson.tmp-") {
		t.Fatalf("temp files after the crash: %v", temps)
	}

	n, err := CleanTemp(root)
	if err != nil || n != 1 {
		t.Fatalf("CleanTemp: %d, %v", n, err)
	}
	got := names(t, day)
	want := append([]string{}, lookalikes...)
	want = append(want, "kept.ndjson")
	if len(got) != len(want) {
		t.Fatalf("after CleanTemp: %v, want %v", got, want)
	}
	for _, w := range want {
		if _, err := os.Stat(filepath.Join(day, w)); err != nil {
			t.Errorf("CleanTemp removed a real file %s", w)
		}
	}
	if n, err := CleanTemp(filepath.Join(root, "missing")); n != 0 || err != nil {
		t.Errorf("CleanTemp of a missing root: %d, %v", n, err)
	}
}
