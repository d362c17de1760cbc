package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tributary.dev/libs/config"
	"tributary.dev/libs/testkit"
)

// stores opens the same behaviour test on every backend, each a real
// server: versitygw for S3, fake-gcs-server for GCS, a temp dir for local.
func stores(t *testing.T) map[string]Store {
	ctx := context.Background()
	s3b := testkit.S3(t)
	s3s, err := Open(ctx, s3b)
	if err != nil {
		t.Fatal(err)
	}
	gsrv, gname := testkit.GCS(t)
	gcs, err := Open(ctx, testkit.GCSBucket(gsrv, gname))
	if err != nil {
		t.Fatal(err)
	}
	local, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Small pages so the tests cross page boundaries on every backend.
	s3s.(*S3).pageSize = 3
	gcs.(*GCS).pageSize = 3
	return map[string]Store{"s3": s3s, "gcs": gcs, "local": local}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

func put(t *testing.T, s Store, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func read(t *testing.T, rc io.ReadCloser, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func listKeys(t *testing.T, s Store, prefix, after string) []string {
	t.Helper()
	var keys []string
	err := s.List(context.Background(), prefix, after, func(o Object) error {
		keys = append(keys, fmt.Sprintf("%s:%d", o.Key, o.Size))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	// Keys chosen so directory order and byte order differ ("a-c" < "a/b"),
	// with spaces, unicode and record-stream-like names.
	keys := []string{
		"recordstreams/record0.0.3/2024-01-01T00_00_00.000000000Z.rcd.gz",
		"recordstreams/record0.0.3/2024-01-01T00_00_02.000000000Z.rcd.gz",
		"recordstreams/record0.0.3/2024-01-01T00_00_02.000000000Z.rcd_sig",
		"recordstreams/record0.0.3/2024-01-01T00_00_04.000000000Z.rcd.gz",
		"recordstreams/record0.0.3/sidecar/2024-01-01T00_00_00.000000000Z_01.rcd.gz",
		"recordstreams/record0.0.3-c",
		"recordstreams/record0.0.4/2024-01-01T00_00_00.000000000Z.rcd.gz",
		"dms/dbo/orders/LOAD00000001.csv",
		"dms/dbo/orders/20240101-120000000.csv",
		"topics/weird name/ü/ok",
		// Characters URL encoding and signing get wrong.
		"topics/plus+and%20percent&amp=?#",
		"topics/日本 語/ñ~!'()*",
	}
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for i, k := range keys {
				put(t, s, k, strings.Repeat("x", i+1))
			}
			size := map[string]int{}
			for i, k := range keys {
				size[k] = i + 1
			}
			want := func(prefix, after string) []string {
				var w []string
				for _, k := range keys {
					if strings.HasPrefix(k, prefix) && k > after {
						w = append(w, fmt.Sprintf("%s:%d", k, size[k]))
					}
				}
				sort.Strings(w)
				return w
			}
			for _, c := range []struct{ prefix, after string }{
				{"recordstreams/record0.0.3", ""},
				{"recordstreams/record0.0.3/", "recordstreams/record0.0.3/2024-01-01T00_00_02.000000000Z.rcd.gz"},
				{"recordstreams/", "recordstreams/record0.0.3/2024-01-01T00_00_04.000000000Z.rcd.gz"},
				{"dms/dbo/orders/", ""},
				{"", ""},
				{"", "topics/weird name/ü/ok"},
				{"nothing/", ""},
			} {
				got := listKeys(t, s, c.prefix, c.after)
				if w := want(c.prefix, c.after); fmt.Sprint(got) != fmt.Sprint(w) {
					t.Errorf("List(%q, after %q)\n got %v\nwant %v", c.prefix, c.after, got, w)
				}
			}

			dirs, err := s.Dirs(ctx, "recordstreams/")
			if err != nil || fmt.Sprint(dirs) != "[recordstreams/record0.0.3/ recordstreams/record0.0.4/]" {
				t.Errorf("Dirs(recordstreams/) = %v, %v", dirs, err)
			}
			dirs, err = s.Dirs(ctx, "dms/")
			if err != nil || fmt.Sprint(dirs) != "[dms/dbo/]" {
				t.Errorf("Dirs(dms/) = %v, %v", dirs, err)
			}

			// Write once: the second put fails and the first content stays.
			k := "dms/dbo/orders/LOAD00000001.csv"
			err = s.Put(ctx, k, strings.NewReader("replacement"), 11)
			if !errors.Is(err, ErrExists) {
				t.Fatalf("second Put = %v, want ErrExists", err)
			}
			rc, err := s.Open(ctx, k)
			if got := read(t, rc, err); got != strings.Repeat("x", size[k]) {
				t.Fatalf("after refused Put the object holds %q", got)
			}

			// Streaming read and ranges of binary content.
			bin := make([]byte, 70_000)
			for i := range bin {
				bin[i] = byte(i * 7)
			}
			if err := s.Put(ctx, "segments/t/0/000001.bson", bytes.NewReader(bin), int64(len(bin))); err != nil {
				t.Fatal(err)
			}
			rc, err = s.Open(ctx, "segments/t/0/000001.bson")
			if got := read(t, rc, err); got != string(bin) {
				t.Fatalf("Open returned %d bytes, not the %d written", len(got), len(bin))
			}
			rc, err = s.ReadRange(ctx, "segments/t/0/000001.bson", 65_000, 1234)
			if got := read(t, rc, err); got != string(bin[65_000:66_234]) {
				t.Fatalf("ReadRange returned %d wrong bytes", len(got))
			}

			if _, err := s.Open(ctx, "no/such/key"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Open(missing) = %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(ctx, k); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, k); err != nil {
				t.Fatalf("Delete of a missing key = %v, want nil", err)
			}
			// The key is free again after a delete.
			put(t, s, k, "second life")

			if _, err := s.ReadRange(ctx, "no/such/key", 0, 10); !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadRange(missing) = %v, want ErrNotFound", err)
			}

			// A put whose reader fails half way leaves no object behind,
			// so a retry after a crash finds the key free.
			err = s.Put(ctx, "broken/1", io.MultiReader(bytes.NewReader(bin[:40_000]), failingReader{}), int64(len(bin)))
			if err == nil {
				t.Fatal("Put with a failing reader succeeded")
			}
			if _, err := s.Open(ctx, "broken/1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after a failed Put, Open = %v, want ErrNotFound", err)
			}
			put(t, s, "broken/1", "retried")

			// Racing writers of one key: exactly one wins, every other
			// gets ErrExists, and the object holds the winner's bytes.
			const writers = 8
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := strings.Repeat(fmt.Sprint(i), 50_000)
					errs[i] = s.Put(ctx, "race/key", strings.NewReader(body), int64(len(body)))
				}()
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner < 0:
					winner = i
				case err == nil:
					t.Fatalf("writers %d and %d both won", winner, i)
				case !errors.Is(err, ErrExists):
					t.Fatalf("writer %d: %v, want ErrExists", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no writer won")
			}
			rc, err = s.Open(ctx, "race/key")
			if got := read(t, rc, err); got != strings.Repeat(fmt.Sprint(winner), 50_000) {
				t.Fatalf("race/key holds %d bytes starting %q, not writer %d's", len(got), got[:min(len(got), 10)], winner)
			}

			// A stream that cannot seek (a pipe, a gzip writer's output),
			// with its size known and not.
			for i, size := range []int64{int64(len(bin)), -1} {
				key := fmt.Sprintf("streams/%d", i)
				if err := s.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(bin)}, size); err != nil {
					t.Fatalf("Put(unseekable, size %d): %v", size, err)
				}
				rc, err = s.Open(ctx, key)
				if got := read(t, rc, err); got != string(bin) {
					t.Fatalf("unseekable Put stored %d bytes, not the %d written", len(got), len(bin))
				}
			}
		})
	}
}

func TestLocalRejectsEscapingKeys(t *testing.T) {
	s, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "", "a\x00b", `a\..\b`, ".tributary-tmp/x", "\xff"} {
		if err := s.Put(context.Background(), k, strings.NewReader("x"), 1); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
		if _, err := s.Open(context.Background(), k); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want a rejection", k, err)
		}
	}
}

// TestOpenPicksBackend: the endpoint alone chooses the store, and a
// failure is a nil Store, not a non-nil interface holding a nil pointer.
func TestOpenPicksBackend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gsrv, gname := testkit.GCS(t)
	for _, c := range []struct {
		b    config.Bucket
		want string
	}{
		{config.Bucket{Endpoint: "file://" + dir, Name: "records"}, "*blob.Local"},
		{testkit.GCSBucket(gsrv, gname), "*blob.GCS"},
		{config.Bucket{Endpoint: "http://127.0.0.1:9000", Name: "b"}, "*blob.S3"},
		{config.Bucket{Name: "b"}, "*blob.S3"},
	} {
		s, err := Open(ctx, c.b)
		if err != nil {
			t.Fatalf("Open(%s): %v", c.b, err)
		}
		if got := fmt.Sprintf("%T", s); got != c.want {
			t.Errorf("Open(%s) = %s, want %s", c.b, got, c.want)
		}
	}
	// A file where the directory should be.
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, config.Bucket{Endpoint: "file://" + f + "/sub", Name: "x"})
	if err == nil || s != nil {
		t.Fatalf("Open over a file = %v, %v; want nil and an error", s, err)
	}
}

// TestLocalRemovesStaleTemps: temp files of puts a kill -9 interrupted do
// not pile up, and are never listed.
func TestLocalRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, tmpDir, "stale")
	fresh := filepath.Join(dir, tmpDir, "fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, s, "", ""); len(keys) != 0 {
		t.Fatalf("temp files listed as objects: %v", keys)
	}
	if _, err := NewLocal(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temp file (a put in progress) was removed: %v", err)
	}
}

// TestLocalListOrder compares the local store's pruned, streaming walk with
// sorting every key, over random trees whose names mix the bytes that sort
// around '/' ('-' and '.' before it, '0' and 'a' after).
func TestLocalListOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seg := func() string {
		const alphabet = "-.0a"
		b := make([]byte, 1+rng.IntN(2))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if s := string(b); s != "." && s != ".." {
			return s
		}
		return "a"
	}
	s, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for range 300 {
		parts := make([]string, 1+rng.IntN(3))
		for i := range parts {
			parts[i] = seg()
		}
		k := strings.Join(parts, "/")
		// A name is either a file or a directory, never both.
		clash := false
		for _, o := range all {
			if strings.HasPrefix(o, k+"/") || strings.HasPrefix(k, o+"/") || o == k {
				clash = true
				break
			}
		}
		if clash {
			continue
		}
		put(t, s, k, k)
		all = append(all, k)
	}
	sort.Strings(all)
	for range 200 {
		prefix, after := "", ""
		if rng.IntN(2) == 0 {
			p := all[rng.IntN(len(all))]
			prefix = p[:rng.IntN(len(p)+1)]
		}
		if rng.IntN(4) != 0 {
			a := all[rng.IntN(len(all))]
			after = a[:rng.IntN(len(a)+1)]
		}
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) && k > after {
				want = append(want, fmt.Sprintf("%s:%d", k, len(k)))
			}
		}
		if got := listKeys(t, s, prefix, after); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("List(%q, after %q)\n got %v\nwant %v", prefix, after, got, want)
		}
	}
}

// TestS3MissingBucket: a misnamed bucket is a configuration error, never
// ErrNotFound, which a caller would take as "not published yet".
func TestS3MissingBucket(t *testing.T) {
	b := testkit.S3(t)
	b.Name += "-missing"
	s, err := Open(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(context.Background(), "k")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Fatalf("Open in a missing bucket = %v, want a NoSuchBucket error that is not ErrNotFound", err)
	}
}
