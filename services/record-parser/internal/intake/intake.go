// Package intake is where record files come from: the downloader's
// JetStream hand-off (hedera.records.downloaded.<node>, one durable pull
// consumer shared by every replica) and, for backfills, a day directory of
// the local record dir. It turns both into Jobs whose paths have been
// checked: a name from a message never becomes a path unchecked.
package intake

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"tributary.dev/libs/recordstream"
)

// SubjectPrefix is the downloader's subject, followed by the node number.
const SubjectPrefix = "hedera.records.downloaded."

// Event is what the parser reads of a downloaded event
// (proto/events/hedera.records.downloaded.schema.json).
type Event struct {
	Node     string `json:"node"`
	Path     string `json:"path"`
	Kind     string `json:"kind"`
	FileHash string `json:"file_hash"`
}

// Job is one record file to parse.
type Job struct {
	// Day and Name locate the file: RECORD_DIR/<Day>/<Name>. Both are
	// checked (Day is the UTC date of the consensus time in Name).
	Day, Name string
	// Node is the node number whose copy the downloader kept ("3"); "0"
	// when unknown (a backfill).
	Node string
	// FileHash is the hash the downloader verified against the nodes'
	// signatures (hex), empty when unknown: the file on disk must still
	// have it.
	FileHash string
	// Start is the consensus time in the name.
	Start time.Time
}

// Rel is the file's path relative to the record dir, as events carry it.
func (j Job) Rel() string { return j.Day + "/" + j.Name }

// Stem is the name without .rcd or .rcd.gz: what output files are named.
func (j Job) Stem() string { return Stem(j.Name) }

// Stem strips .rcd.gz or .rcd from a record file name.
func Stem(name string) string {
	name = strings.TrimSuffix(name, ".gz")
	return strings.TrimSuffix(name, ".rcd")
}

// ParseEvent decodes a downloaded event. A record file's event becomes a
// Job; signature and sidecar events (the parser reads those files when
// their record file comes) give ok=false and no error.
func ParseEvent(subject string, data []byte) (job Job, ok bool, err error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Job{}, false, fmt.Errorf("message on %s: not a downloaded event: %w", subject, err)
	}
	switch e.Kind {
	case "signature", "sidecar":
		return Job{}, false, nil
	case "record":
	default:
		return Job{}, false, fmt.Errorf("message on %s: kind %q is not record, signature or sidecar", subject, e.Kind)
	}
	if !isNumber(e.Node) || subject != SubjectPrefix+e.Node {
		return Job{}, false, fmt.Errorf("message on %s: node %q does not match the subject", subject, e.Node)
	}
	day, name, found := strings.Cut(e.Path, "/")
	if !found {
		return Job{}, false, fmt.Errorf("message on %s: path %q is not <YYYY-MM-DD>/<record file>", subject, e.Path)
	}
	job, err = NewJob(day, name, e.Node)
	if err != nil {
		return Job{}, false, fmt.Errorf("message on %s: %w", subject, err)
	}
	if e.FileHash != "" && !isHex(e.FileHash, 96) {
		return Job{}, false, fmt.Errorf("message on %s: file_hash %q is not 96 hex digits", subject, e.FileHash)
	}
	job.FileHash = e.FileHash
	return job, true, nil
}

// NewJob checks day and name: name must be a record file name
// (<consensus time>.rcd or .rcd.gz, no directory) and day its UTC date.
func NewJob(day, name, node string) (Job, error) {
	if name == "" || strings.ContainsAny(name, `/\`+"\x00") || path.Clean(name) != name {
		return Job{}, fmt.Errorf("%q is not a record file name", name)
	}
	if !strings.HasSuffix(name, ".rcd") && !strings.HasSuffix(name, ".rcd.gz") {
		return Job{}, fmt.Errorf("%q is not a record file (.rcd or .rcd.gz)", name)
	}
	start, err := recordstream.NameTime(name)
	if err != nil {
		return Job{}, fmt.Errorf("%q: %w", name, err)
	}
	if want := start.UTC().Format(time.DateOnly); day != want {
		return Job{}, fmt.Errorf("%s belongs in day directory %s, not %q", name, want, day)
	}
	return Job{Day: day, Name: name, Node: node, Start: start}, nil
}

// Day lists the record files of one day directory, RECORD_DIR/<day>, in
// consensus order (names sort by consensus time). Other files (signature
// files, the sidecar directory, anything foreign) are left out; a file
// whose name is not a record file name is reported, not parsed.
func Day(recordDir, day string) (jobs []Job, skipped []string, err error) {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, nil, fmt.Errorf("--marker %q is not a day directory (YYYY-MM-DD)", day)
	}
	entries, err := os.ReadDir(filepath.Join(recordDir, day))
	if err != nil {
		return nil, nil, fmt.Errorf("day directory %s: %w", day, err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasSuffix(n, "_sig") || strings.HasPrefix(n, ".") {
			continue
		}
		j, err := NewJob(day, n, "0")
		if err != nil {
			skipped = append(skipped, n)
			continue
		}
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].Start.Equal(jobs[b].Start) {
			return jobs[a].Start.Before(jobs[b].Start)
		}
		return jobs[a].Name < jobs[b].Name
	})
	return jobs, skipped, nil
}

func isNumber(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
