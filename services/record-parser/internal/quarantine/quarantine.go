// Package quarantine keeps a copy of a record file the parser refused,
// with why, so an operator can look at it after the downloader has moved
// on. The original in RECORD_DIR is left where it is: it belongs to the
// downloader.
package quarantine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-parser/internal/ndjson"
)

// ReasonSuffix is appended to the file's name for the reason beside it.
const ReasonSuffix = ".reason"

// Entry is one refused file.
type Entry struct {
	Name string // record-stream file name (or block file name with Day), no directory
	// Day is the day directory, YYYY-MM-DD; empty: the UTC day of the
	// consensus time in Name (a block's name has none).
	Day    string
	Data   []byte // the file's bytes as read
	Reason string // short cause, as counted in quarantined_total{reason}
	Cause  error  // the error that refused it; may be nil
	Source string // where it was read from; may be empty
	Time   time.Time
}

// Note is the content of <name>.reason (JSON).
type Note struct {
	File   string    `json:"file"`
	Reason string    `json:"reason"`
	Error  string    `json:"error,omitempty"`
	Source string    `json:"source,omitempty"`
	Time   time.Time `json:"time"`
}

// Put copies a refused file into dir/<YYYY-MM-DD>/<name> (the UTC day of
// the consensus time in its name) with <name>.reason beside it, each
// written atomically, and returns the path of the copy. name must be a
// record-stream file name with no path separators: a name that came from
// outside never becomes a path unchecked.
func Put(dir *ndjson.Dir, name string, data []byte, reason string, cause error) (string, error) {
	return Write(dir, Entry{Name: name, Data: data, Reason: reason, Cause: cause, Time: time.Now()})
}

// PutIn is Put for a file of the day directory day (a block, whose name
// names no time).
func PutIn(dir *ndjson.Dir, day, name string, data []byte, reason string, cause error) (string, error) {
	return Write(dir, Entry{Day: day, Name: name, Data: data, Reason: reason, Cause: cause, Time: time.Now()})
}

// Write is Put with the source path and the time given.
func Write(dir *ndjson.Dir, e Entry) (string, error) {
	day, err := dayOf(e.Day, e.Name)
	if err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	rel := day + "/" + e.Name
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	note := Note{File: e.Name, Reason: e.Reason, Source: e.Source, Time: e.Time.UTC()}
	if e.Cause != nil {
		note.Error = e.Cause.Error()
	}
	body, err := json.MarshalIndent(note, "", "  ")
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", e.Name, err)
	}
	// The copy first: a reason file never stands beside nothing.
	if err := writeFile(dir, rel, e.Data); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", e.Name, err)
	}
	if err := writeFile(dir, rel+ReasonSuffix, append(body, '\n')); err != nil {
		return "", fmt.Errorf("quarantine %s: reason: %w", e.Name, err)
	}
	return dir.Path(rel), nil
}

// Remove deletes the copy of name and its reason, once the file has been
// parsed after all (the operator replaced the downloader's copy): the
// quarantine holds only what is still refused. The reason file goes
// last, so a copy never stays without it.
func Remove(dir *ndjson.Dir, name string) error { return RemoveIn(dir, "", name) }

// RemoveIn is Remove for a file of the day directory day ("": the day of
// its name).
func RemoveIn(dir *ndjson.Dir, day, name string) error {
	day, err := dayOf(day, name)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	rel := day + "/" + name
	if err := dir.Remove(rel); err != nil {
		return fmt.Errorf("quarantine: remove the copy of %s: %w", name, err)
	}
	if err := dir.Remove(rel + ReasonSuffix); err != nil {
		return fmt.Errorf("quarantine: remove the reason of %s: %w", name, err)
	}
	return nil
}

// Day checks that name is a bare record-stream file name and returns the
// UTC day of its consensus time, YYYY-MM-DD.
func Day(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`+"\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("%q: not a bare file name", name)
	}
	t, err := recordstream.NameTime(name)
	if err != nil {
		return "", err
	}
	return t.UTC().Format(time.DateOnly), nil
}

// dayOf is day, checked to be a date and name a bare file name, or when
// day is empty the day of name's consensus time.
func dayOf(day, name string) (string, error) {
	if day == "" {
		return Day(name)
	}
	if name == "" || strings.ContainsAny(name, `/\`+"\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("%q: not a bare file name", name)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return "", fmt.Errorf("%q: not a day (YYYY-MM-DD)", day)
	}
	return day, nil
}

func writeFile(dir *ndjson.Dir, rel string, data []byte) error {
	f, err := dir.Create(rel)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}
