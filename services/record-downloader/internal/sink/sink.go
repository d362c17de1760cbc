// Package sink writes verified files into the local record directory the
// parser reads: DEST_DIR/<YYYY-MM-DD>/<name>, sidecars in a sidecar/
// directory beside them. A file appears under its final name only whole:
// it is written to DEST_DIR/.tmp, synced, renamed into place and the
// directory synced, so a crash at any moment leaves either nothing or the
// complete file. Refused files go to DEST_DIR/_quarantine with a reason
// file beside each.
package sink

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dirs below DEST_DIR that are not day directories.
const (
	TempDir       = ".tmp"
	QuarantineDir = "_quarantine"
)

// Sink is a local record directory.
type Sink struct {
	root string
}

// Open makes root (and its temp directory) if needed and removes the
// temp files a killed process left behind: they never had a final name.
func Open(root string) (*Sink, error) {
	if root == "" {
		return nil, fmt.Errorf("DEST_DIR: not set")
	}
	tmp := filepath.Join(root, TempDir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("DEST_DIR %s: %w", root, err)
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("DEST_DIR %s: %w", root, err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("remove stale temp file %s: %w", e.Name(), err)
		}
	}
	return &Sink{root: root}, nil
}

// Root is DEST_DIR.
func (s *Sink) Root() string { return s.root }

// Path is where rel (slash-separated, as built by the caller from checked
// names) lives on disk.
func (s *Sink) Path(rel string) string { return filepath.Join(s.root, filepath.FromSlash(rel)) }

// Exists reports whether rel is there under its final name.
func (s *Sink) Exists(rel string) bool {
	_, err := os.Stat(s.Path(rel))
	return err == nil
}

// Pending is a file being written: bytes go to a temp file until Commit
// renames it to its final name.
type Pending struct {
	s   *Sink
	rel string
	f   *os.File
	n   int64
}

// Create starts writing rel. The caller must Commit or Abort.
func (s *Sink) Create(rel string) (*Pending, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, TempDir), "dl-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	return &Pending{s: s, rel: rel, f: f}, nil
}

func (p *Pending) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", p.rel, err)
	}
	return n, nil
}

// Size is the bytes written so far.
func (p *Pending) Size() int64 { return p.n }

// Commit syncs the file, renames it into place (replacing an earlier copy,
// which can only be the same verified bytes) and syncs the directory, so
// the name survives a power cut.
func (p *Pending) Commit() error {
	dir, err := p.CommitUnsynced()
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// CommitUnsynced is Commit without the directory sync: the file is whole
// under its name, and the name is durable once the returned directory is
// synced (SyncDir), which a caller writing many files into one directory
// does once for all of them.
func (p *Pending) CommitUnsynced() (string, error) {
	final := p.s.Path(p.rel)
	if err := p.f.Sync(); err != nil {
		p.Abort()
		return "", fmt.Errorf("write %s: sync: %w", p.rel, err)
	}
	if err := p.f.Close(); err != nil {
		os.Remove(p.f.Name())
		return "", fmt.Errorf("write %s: close: %w", p.rel, err)
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		os.Remove(p.f.Name())
		return "", fmt.Errorf("write %s: %w", p.rel, err)
	}
	if err := os.Rename(p.f.Name(), final); err != nil {
		os.Remove(p.f.Name())
		return "", fmt.Errorf("write %s: %w", p.rel, err)
	}
	return dir, nil
}

// SyncDir makes the names in dir (a directory CommitUnsynced returned)
// durable.
func (s *Sink) SyncDir(dir string) error { return syncDir(dir) }

// Abort drops the temp file.
func (p *Pending) Abort() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// WriteFile writes data to rel through a temp file.
func (s *Sink) WriteFile(rel string, data []byte) error {
	p, err := s.Create(rel)
	if err != nil {
		return err
	}
	if _, err := p.Write(data); err != nil {
		p.Abort()
		return err
	}
	return p.Commit()
}

// Quarantine keeps a refused object for an operator: its bytes under
// _quarantine/<node>/<file> and, beside them, <file>.reason with the
// reason, the object key and the error. A second refusal of the same
// object replaces the first.
func (s *Sink) Quarantine(node, file, key, reason string, data []byte, cause error) (string, error) {
	rel := QuarantineDir + "/" + node + "/" + file
	if err := checkRel(rel); err != nil {
		return "", err
	}
	if data != nil {
		if err := s.WriteFile(rel, data); err != nil {
			return "", fmt.Errorf("quarantine %s: %w", key, err)
		}
	}
	note := fmt.Sprintf("reason: %s\nobject: %s\nnode: %s\ntime: %s\nerror: %v\n", reason, key, node, time.Now().UTC().Format(time.RFC3339), cause)
	if err := s.WriteFile(rel+".reason", []byte(note)); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", key, err)
	}
	return rel, nil
}

// checkRel refuses a relative path that could leave the root: the names
// reaching here were rebuilt from parsed parts, so this is a second fence,
// not the first.
func checkRel(rel string) error {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.ContainsRune(rel, 0) || strings.Contains(rel, "\\") {
		return fmt.Errorf("path %q: not a plain relative path", rel)
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("path %q: not a plain relative path", rel)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// ReadFile reads rel (a file already committed).
func (s *Sink) ReadFile(rel string) ([]byte, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	return os.ReadFile(s.Path(rel))
}

var _ io.Writer = (*Pending)(nil)
