// Package books keeps the address books the downloader learned from the
// record stream (0.0.102 updates), so that a restart, and a backfill
// beside the live service, check each file with the keys of its time.
// One write-once file per book, named by the consensus time it is in
// force from; the live service and a backfill that meet the same update
// write the same bytes under the same name.
package books

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"tributary.dev/libs/recordstream"
)

// Store is a directory of learned books.
type Store struct {
	dir string
}

// Open makes dir if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("address-book directory %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Dir is where the books are.
func (s *Store) Dir() string { return s.dir }

// meta is what is kept beside a book's bytes.
type meta struct {
	From   time.Time `json:"in_force_from"`
	Source string    `json:"source"`
}

var bookFile = regexp.MustCompile(`^([0-9]{19,20})-0\.0\.102\.pb$`)

func (s *Store) name(from time.Time) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d-0.0.102.pb", from.UnixNano()))
}

// Save keeps the NodeAddressBook bytes of a book in force from from on.
// A book already saved from that time with the same bytes is left as it
// is; other bytes there are an error (two different books announced at
// one consensus time cannot both be the network's).
func (s *Store) Save(from time.Time, raw []byte, source string) error {
	p := s.name(from)
	if have, err := os.ReadFile(p); err == nil {
		if !bytes.Equal(have, raw) {
			return fmt.Errorf("address book in force from %s: %s holds a different book (%d bytes, this one %d)", from.UTC().Format(time.RFC3339Nano), p, len(have), len(raw))
		}
		return nil
	}
	m, err := json.Marshal(meta{From: from.UTC(), Source: source})
	if err != nil {
		return err
	}
	if err := writeAtomic(s.dir, p+".json", m); err != nil {
		return err
	}
	return writeAtomic(s.dir, p, raw)
}

// Load adds every saved book to h, each parsed as the stream's updates
// are (shard.realm accounts), and returns how many.
func (s *Store) Load(h *recordstream.BookHistory, shard, realm int64) (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("address-book directory %s: %w", s.dir, err)
	}
	var names []string
	for _, e := range ents {
		if bookFile.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		ns, err := strconv.ParseInt(bookFile.FindStringSubmatch(n)[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("address book %s: %w", n, err)
		}
		p := filepath.Join(s.dir, n)
		raw, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		b, err := recordstream.ParseBookUpdate(raw, shard, realm)
		if err != nil {
			return 0, fmt.Errorf("address book %s: %w (remove it to learn it from the stream again)", p, err)
		}
		source := "saved " + n
		var m meta
		if mb, err := os.ReadFile(p + ".json"); err == nil && json.Unmarshal(mb, &m) == nil && m.Source != "" {
			source = m.Source
		}
		if err := h.Add(time.Unix(0, ns).UTC(), b, source); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}

// writeAtomic writes data to p through a temp file, synced, renamed, and
// the directory synced.
func writeAtomic(dir, p string, data []byte) error {
	f, err := os.CreateTemp(dir, ".book-*")
	if err != nil {
		return fmt.Errorf("save %s: %w", p, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save %s: %w", p, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("save %s: sync directory: %w", p, err)
	}
	return nil
}
