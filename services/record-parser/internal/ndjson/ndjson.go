// Package ndjson writes output files atomically: a reader (or a restart)
// sees either no file or the whole of it, never a half-written one. The
// bytes go to a temp file beside the target, which Commit renames over it.
package ndjson

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// bufSize is the write buffer: one record file's documents are written in
// a few large writes instead of one per document.
const bufSize = 1 << 20

// Temp names are ".<name>.tmp-<16 hex>": a leading dot hides them from
// globbing readers, and the fixed marker lets CleanTemp tell them from any
// real file.
const tmpMarker = ".tmp-"

// File is an output file being written.
type File struct {
	path string
	tmp  string
	f    *os.File
	w    *bufio.Writer
	done bool
}

// Create opens a temp file beside path (its directory created 0o755 if
// missing); nothing appears at path until Commit.
func Create(path string) (*File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("create %s: temp name: %w", path, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+tmpMarker+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &File{path: path, tmp: tmp, f: f, w: bufio.NewWriterSize(f, bufSize)}, nil
}

// Path is where the file appears on Commit.
func (f *File) Path() string { return f.path }

// Write buffers p.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	n, err := f.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", f.path, err)
	}
	return n, nil
}

// Commit flushes and fsyncs the temp file, renames it over path and
// fsyncs the directory, so the file survives a crash once Commit returns.
// On error the temp file is removed and nothing is at path that was not
// there before.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("commit %s: already committed or aborted", f.path)
	}
	err := f.commit()
	if err != nil {
		f.Abort()
		return fmt.Errorf("commit %s: %w", f.path, err)
	}
	f.done = true
	return nil
}

func (f *File) commit() error {
	if err := f.w.Flush(); err != nil {
		return err
	}
	if err := f.f.Sync(); err != nil {
		return err
	}
	if err := f.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.tmp, f.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort removes the temp file. After Commit (or a second Abort) it does
// nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	_ = f.f.Close()
	_ = os.Remove(f.tmp)
}

// IsTemp says whether name (a base name) is one of Create's temp files.
func IsTemp(name string) bool {
	if !strings.HasPrefix(name, ".") {
		return false
	}
	i := strings.LastIndex(name, tmpMarker)
	if i < 2 { // at least one character of the target's name
		return false
	}
	suffix := name[i+len(tmpMarker):]
	if len(suffix) != 16 {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil
}

// CleanTemp removes the temp files a killed process left under root and
// returns how many it removed. Run it at start, before any writer exists:
// a live writer's temp file looks the same. A missing root is not an
// error.
func CleanTemp(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() || !IsTemp(d.Name()) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("clean temp files under %s: %w", root, err)
	}
	return n, nil
}
