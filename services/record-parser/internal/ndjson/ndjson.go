// Package ndjson writes output files atomically: a reader (or a restart)
// sees either no file or the whole of it, never a half-written one. The
// bytes go to a temp file in the root's .tmp directory, which Commit
// renames into place; new directories are made durable as files are.
//
// Several processes write under one root at once — the replicas of the
// service, a backfill, a re-parse — so every temp file names the process
// that writes it (its kind, host and pid). A process cleaning up at start
// removes only the leftovers of its own kind that no live process owns,
// and reads only the .tmp directory, never the output's history.
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bufSize is the write buffer: one record file's documents are written in
// a few large writes instead of one per document.
const bufSize = 1 << 20

// TempDir is the directory, under a root, that holds the temp files.
const TempDir = ".tmp"

// tmpSuffix ends every temp file's name:
// <target name>.<kind>.<host>.<pid>.<16 hex>.tmp
const tmpSuffix = ".tmp"

// OrphanAge is how old a temp file of the cleaner's own kind from another
// host must be before Clean takes it for the leftover of a process that
// is gone for good (a pod replaced under a new name). A temp file lives
// only while one output file is written, which takes seconds; its
// modification time moves with every write.
const OrphanAge = time.Hour

// Owner names the process a temp file belongs to.
type Owner struct {
	Kind string // what the process is: service, backfill, reparse
	Host string // its host name, made safe for a file name
	PID  int
}

// Self is this process as the owner of its temp files, of kind kind
// (lower-case letters only).
func Self(kind string) Owner {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return Owner{Kind: kind, Host: safeHost(h), PID: os.Getpid()}
}

// safeHost keeps letters, digits and '-': a host name's dots would make
// the temp names ambiguous.
func safeHost(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

func validKind(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Dir is a root output files are written under by one process.
type Dir struct {
	root  string
	owner Owner
}

// NewDir returns the root as owner writes it.
func NewDir(root string, owner Owner) (*Dir, error) {
	if root == "" {
		return nil, errors.New("output root: empty")
	}
	if !validKind(owner.Kind) || owner.Host == "" || safeHost(owner.Host) != owner.Host || owner.PID <= 0 {
		return nil, fmt.Errorf("output root %s: owner %+v: kind of lower-case letters, a safe host name and a pid", root, owner)
	}
	return &Dir{root: root, owner: owner}, nil
}

// Root is the directory the files appear under.
func (d *Dir) Root() string { return d.root }

// Path is where rel (slash-separated, relative to the root) lives.
func (d *Dir) Path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

// File is an output file being written.
type File struct {
	path string
	tmp  string
	f    *os.File
	w    *bufio.Writer
	done bool
}

// Create opens a temp file for rel (its directories, and the root's
// .tmp, created durably if missing); nothing appears at rel until Commit.
// rel is built by the caller from checked names.
func (d *Dir) Create(rel string) (*File, error) {
	path := d.Path(rel)
	if err := MkdirAll(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	tmpDir := filepath.Join(d.root, TempDir)
	if err := MkdirAll(tmpDir); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("create %s: temp name: %w", path, err)
	}
	tmp := filepath.Join(tmpDir, fmt.Sprintf("%s.%s.%s.%d.%s%s", filepath.Base(path), d.owner.Kind, d.owner.Host, d.owner.PID,
		hex.EncodeToString(rnd[:]), tmpSuffix))
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

// syncDir makes a rename or a new entry in dir durable.
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

// MkdirAll makes dir and its missing parents (0o755), syncing the parent
// of each directory it makes, so a file committed into a new directory
// does not vanish with it after a crash.
func MkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	// Another process may make it at the same moment: the parent is
	// synced either way, so the entry is durable before a file goes in.
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
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

// ParseTemp reads the owner from a temp file's base name; ok is false
// for a name that is not one.
func ParseTemp(name string) (owner Owner, target string, ok bool) {
	rest, found := strings.CutSuffix(name, tmpSuffix)
	if !found {
		return Owner{}, "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 5 {
		return Owner{}, "", false
	}
	n := len(parts)
	rnd, pidText, host, kind := parts[n-1], parts[n-2], parts[n-3], parts[n-4]
	if _, err := hex.DecodeString(rnd); err != nil || len(rnd) != 16 {
		return Owner{}, "", false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || !validKind(kind) || host == "" || safeHost(host) != host {
		return Owner{}, "", false
	}
	target = strings.Join(parts[:n-4], ".")
	if target == "" {
		return Owner{}, "", false
	}
	return Owner{Kind: kind, Host: host, PID: pid}, target, true
}

// Clean removes the temp files a process of this Dir's kind left behind
// and returns how many it removed: those of this host whose process is
// gone (or whose pid is this process's: a container restarted in place
// has the pid its predecessor had, and this process has written nothing
// yet), and those of any host older than OrphanAge. It never touches
// another kind's files (a backfill beside the service) nor a live
// process's, and reads only the root's .tmp directory. Run it at start,
// before the first Create.
func (d *Dir) Clean() (int, error) {
	dir := filepath.Join(d.root, TempDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clean temp files in %s: %w", dir, err)
	}
	n := 0
	for _, e := range entries {
		owner, _, ok := ParseTemp(e.Name())
		if !ok || !e.Type().IsRegular() || owner.Kind != d.owner.Kind {
			continue
		}
		stale := false
		if owner.Host == d.owner.Host {
			stale = owner.PID == d.owner.PID || !alive(owner.PID)
		} else if info, err := e.Info(); err == nil {
			stale = time.Since(info.ModTime()) > OrphanAge
		}
		if !stale {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("clean temp files in %s: %w", dir, err)
		}
		n++
	}
	return n, nil
}

// alive says whether a process with pid runs on this host.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Remove deletes rel and syncs its directory; a missing file is not an
// error.
func (d *Dir) Remove(rel string) error {
	path := d.Path(rel)
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}
