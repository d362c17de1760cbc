package downloader

import (
	"errors"
	"fmt"
	"os"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-downloader/internal/state"
)

// LastRecord is the last record file the live stream wrote: where the
// block stream must take over at the cutover.
type LastRecord struct {
	Stem string
	Time time.Time
	// Hash is the file hash the network's signatures agreed on (hex).
	Hash string
	// Version is the record file's format; BlockNumber its block number
	// (v6 files carry it; 0 and HasBlockNumber false for v2 and v5).
	Version        int
	BlockNumber    uint64
	HasBlockNumber bool
}

// ErrNoRecord: the live stream has written no record file yet.
var ErrNoRecord = errors.New("no record file written yet")

// LastRecord reads the live position and the record file it names from
// the local record directory.
func (d *Downloader) LastRecord() (LastRecord, error) {
	pos, err := d.state.Load(state.Live)
	if err != nil {
		return LastRecord{}, err
	}
	if pos.Stem == "" || pos.Hash == "" {
		return LastRecord{}, ErrNoRecord
	}
	day := pos.Time.UTC().Format(time.DateOnly)
	var data []byte
	var name string
	for _, n := range []string{pos.Stem + ".rcd.gz", pos.Stem + ".rcd"} {
		b, err := d.sink.ReadFile(day + "/" + n)
		if err == nil {
			data, name = b, n
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return LastRecord{}, fmt.Errorf("last record file %s: %w", n, err)
		}
	}
	if data == nil {
		return LastRecord{}, fmt.Errorf("last record file %s/%s.rcd[.gz] named by the position is not in the record directory", day, pos.Stem)
	}
	rf, err := recordstream.Parse(name, data)
	if err != nil {
		return LastRecord{}, fmt.Errorf("last record file %s/%s: %w", day, name, err)
	}
	lr := LastRecord{Stem: pos.Stem, Time: pos.Time, Hash: pos.Hash, Version: rf.Version}
	if rf.Version == 6 && rf.BlockNumber >= 0 {
		lr.BlockNumber, lr.HasBlockNumber = uint64(rf.BlockNumber), true
	}
	return lr, nil
}
