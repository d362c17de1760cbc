// Package state keeps the downloader's positions durably: the consensus
// time of the last file written and announced, and the last block, one
// file per position (the live streams, and each backfill apart). A position is replaced
// atomically (temp file, fsync, rename, directory fsync), so a crash
// leaves the old position or the new one, never a torn one.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Position is where a stream stands.
type Position struct {
	// Stem is the consensus time of the last file done, as its name
	// writes it ("2022-07-13T08_46_11.304284003Z"); empty: none yet.
	Stem string `json:"last_stem"`
	// Time is the same parsed (for metrics and logs).
	Time time.Time `json:"last_consensus_time"`
	// Hash is the agreed file hash of that file, hex.
	Hash string `json:"last_file_hash,omitempty"`
	// Chain is the hash the next file must start from (its previous
	// hash, or start running hash), hex.
	Chain string `json:"chain_hash,omitempty"`
	// BookParts are the bytes of the address-book files (by file number,
	// "101" and "102") an update in the stream has written so far and not
	// completed: an update whose FileAppends span record files survives a
	// restart. Base64.
	BookParts map[string]string `json:"book_parts,omitempty"`
	Updated   time.Time         `json:"updated"`
}

// Store is a directory of positions.
type Store struct {
	dir string
}

// Open makes dir if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Live is the name of the live stream's position; Backfill the name of
// a backfill marker's.
const Live = "live"

func Backfill(marker string) string { return "backfill-" + marker }

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+".json") }

// Load reads the position name; a position never saved is the zero one.
func (s *Store) Load(name string) (Position, error) {
	var p Position
	_, err := s.load(name, &p, "it names the last file done")
	return p, err
}

// load reads name.json into v; found is false when it was never saved.
func (s *Store) load(name string, v any, what string) (found bool, err error) {
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state %s: %w", s.path(name), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("read state %s: %w (fix or remove the file; %s)", s.path(name), err, what)
	}
	return true, nil
}

// Save replaces the position name atomically.
func (s *Store) Save(name string, p Position) error {
	p.Updated = time.Now().UTC()
	return s.save(name, p)
}

// save replaces the file name.json with v atomically.
func (s *Store) save(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, name+".*.tmp")
	if err != nil {
		return fmt.Errorf("save state %s: %w", name, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.path(name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save state %s: %w", name, err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("save state %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save state %s: sync directory: %w", name, err)
	}
	return nil
}
