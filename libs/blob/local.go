package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// tmpDir holds puts in progress, inside the root so a rename/link into
// place stays on one file system; List never shows it.
const tmpDir = ".tributary-tmp"

// Local is a Store over a directory: keys are slash-separated paths below
// it. It is how the downloader's record directory and tests without a
// server look like a bucket.
type Local struct {
	root string
}

// NewLocal uses dir (created if missing) as a bucket.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, fmt.Errorf("local store: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o755); err != nil {
		return nil, fmt.Errorf("local store %s: %w", abs, err)
	}
	l := &Local{root: abs}
	l.removeStaleTemps(24 * time.Hour)
	return l, nil
}

// removeStaleTemps deletes temp files a killed process left behind. Only
// old ones: a put by another process may be writing a fresh one now.
func (l *Local) removeStaleTemps(age time.Duration) {
	dir := filepath.Join(l.root, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (l *Local) Bucket() string { return l.root }

// path turns a key into a file path, refusing anything that would step
// outside the root: keys come from outside (object names, topics).
func (l *Local) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key, "/") || strings.Contains(key, `\`) {
		return "", fmt.Errorf("object key %q: not a relative slash path", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || seg == tmpDir {
			return "", fmt.Errorf("object key %q: segment %q not allowed", key, seg)
		}
	}
	p := filepath.Join(l.root, filepath.FromSlash(key))
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return "", fmt.Errorf("object key %q escapes the store", key)
	}
	return p, nil
}

// List walks the tree depth first, each directory's entries sorted with a
// directory named as its key prefix ("a/"), which makes the walk's order
// the keys' byte order ("a-c" < "a/b" < "a0"). So it streams without
// collecting the tree, and skips whole subtrees outside the prefix or
// before the marker.
func (l *Local) List(ctx context.Context, prefix, startAfter string, fn func(Object) error) error {
	// fn's own errors come back unwrapped, as on the other backends.
	return l.walk(ctx, l.root, "", prefix, startAfter, fn)
}

func (l *Local) walk(ctx context.Context, dir, rel, prefix, startAfter string, fn func(Object) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	type entry struct {
		key string
		e   fs.DirEntry
	}
	sorted := make([]entry, 0, len(entries))
	for _, e := range entries {
		if rel == "" && e.Name() == tmpDir {
			continue
		}
		key := rel + e.Name()
		if e.IsDir() {
			key += "/"
		}
		sorted = append(sorted, entry{key, e})
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].key < sorted[j].key })
	for _, en := range sorted {
		if err := ctx.Err(); err != nil {
			return err
		}
		if en.e.IsDir() {
			// Every key below starts with en.key: skip the subtree when
			// that cannot match the prefix, or when the marker sorts
			// after the whole subtree (it is larger without being inside).
			if !strings.HasPrefix(en.key, prefix) && !strings.HasPrefix(prefix, en.key) {
				continue
			}
			if startAfter > en.key && !strings.HasPrefix(startAfter, en.key) {
				continue
			}
			if err := l.walk(ctx, filepath.Join(dir, en.e.Name()), en.key, prefix, startAfter, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(en.key, prefix) || en.key <= startAfter {
			continue
		}
		info, err := en.e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while we walked
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", en.key, err)
		}
		if err := fn(Object{Key: en.key, Size: info.Size(), Modified: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) Dirs(_ context.Context, prefix string) ([]string, error) {
	dir := l.root
	if prefix != "" {
		p, err := l.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return nil, err
		}
		dir = p
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !(dir == l.root && e.Name() == tmpDir) {
			dirs = append(dirs, prefix+e.Name()+"/")
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", key, ErrNotFound)
	}
	return f, err
}

func (l *Local) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := l.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, length), f}, nil
}

// Put writes to a temp file, syncs it, then hard-links it into place:
// link fails if the name exists, so the write is atomic and once only.
func (l *Local) Put(_ context.Context, key string, r io.Reader, _ int64) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	rnd := make([]byte, 8)
	_, _ = rand.Read(rnd)
	tmp := filepath.Join(l.root, tmpDir, hex.EncodeToString(rnd))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	defer os.Remove(tmp)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write %s: %w", key, ErrExists)
		}
		return fmt.Errorf("write %s: %w", key, err)
	}
	// Make the new directory entry durable too.
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
