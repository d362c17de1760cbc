// Package intake is where record files and blocks come from: the
// downloader's JetStream hand-off (hedera.records.downloaded.<node>, one
// durable pull consumer shared by every replica) and, for backfills, a day
// directory of the local record dir. It turns both into Jobs whose paths
// have been checked: a name from a message never becomes a path unchecked.
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

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/recordstream"
)

// SubjectPrefix is the downloader's subject, followed by the node number.
const SubjectPrefix = "hedera.records.downloaded."

// BlockToken is the last subject token of block events, in place of a node
// number: blocks are the network's, not one node's.
const BlockToken = "block"

// Event is what the parser reads of a downloaded event
// (proto/events/hedera.records.downloaded.schema.json).
type Event struct {
	Node           string  `json:"node"`
	Path           string  `json:"path"`
	Kind           string  `json:"kind"`
	FileHash       string  `json:"file_hash"`
	ConsensusStart string  `json:"consensus_start"`
	BlockNumber    *uint64 `json:"block_number"`
}

// Job is one record file or block to parse.
type Job struct {
	// Day and Name locate the file: RECORD_DIR/<Day>/<Name>. Both are
	// checked (for a record file Day is the UTC date of the consensus time
	// in Name; a block's day is checked against its header once read).
	Day, Name string
	// Block says Name is a block file (<19-digit number>.blk[.gz|.zstd]),
	// Number the block number in it.
	Block  bool
	Number uint64
	// Node is the node number whose copy the downloader kept ("3"); "0"
	// when unknown (a backfill).
	Node string
	// FileHash is the hash the downloader verified against the nodes'
	// signatures (hex), or a block's root hash, empty when unknown: the
	// file on disk must still have it.
	FileHash string
	// Start is the consensus time in a record file's name; for a block
	// the block time its event carried, zero when not known before the
	// block is read (a backfill).
	Start time.Time
}

// Rel is the file's path relative to the record dir, as events carry it.
func (j Job) Rel() string { return j.Day + "/" + j.Name }

// Stem is the name without .rcd or .rcd.gz (.blk, .blk.gz, .blk.zstd):
// what output files are named.
func (j Job) Stem() string { return Stem(j.Name) }

// Stem strips .rcd.gz or .rcd from a record file name, and .blk.zstd,
// .blk.gz or .blk from a block's.
func Stem(name string) string {
	name = strings.TrimSuffix(name, ".gz")
	name = strings.TrimSuffix(name, ".zstd")
	name = strings.TrimSuffix(name, ".blk")
	return strings.TrimSuffix(name, ".rcd")
}

// ParseEvent decodes a downloaded event. A record file's or a block's
// event becomes a Job; signature and sidecar events (the parser reads
// those files when their record file comes) give ok=false and no error.
func ParseEvent(subject string, data []byte) (job Job, ok bool, err error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Job{}, false, fmt.Errorf("message on %s: not a downloaded event: %w", subject, err)
	}
	switch e.Kind {
	case "signature", "sidecar":
		return Job{}, false, nil
	case "record", "block":
	default:
		return Job{}, false, fmt.Errorf("message on %s: kind %q is not record, block, signature or sidecar", subject, e.Kind)
	}
	// A record file is announced on its node's subject; a block on
	// hedera.records.downloaded.block with no node (whichever source served
	// it), and it is parsed and announced under that token.
	node := e.Node
	switch {
	case e.Kind == "block":
		if subject != SubjectPrefix+BlockToken || node != "" {
			return Job{}, false, fmt.Errorf("message on %s: a block is announced on %s%s without a node (node %q)", subject, SubjectPrefix, BlockToken, node)
		}
		node = BlockToken
	case !isNumber(node) || subject != SubjectPrefix+node:
		return Job{}, false, fmt.Errorf("message on %s: node %q does not match the subject", subject, node)
	}
	day, name, found := strings.Cut(e.Path, "/")
	if !found {
		return Job{}, false, fmt.Errorf("message on %s: path %q is not <YYYY-MM-DD>/<record file>", subject, e.Path)
	}
	job, err = NewJob(day, name, node)
	if err != nil {
		return Job{}, false, fmt.Errorf("message on %s: %w", subject, err)
	}
	if job.Block != (e.Kind == "block") {
		return Job{}, false, fmt.Errorf("message on %s: kind %s but %s is not a %s file", subject, e.Kind, name, e.Kind)
	}
	if job.Block {
		if e.BlockNumber == nil || *e.BlockNumber != job.Number {
			return Job{}, false, fmt.Errorf("message on %s: block_number %s, but the path names block %d", subject, numberOrNone(e.BlockNumber), job.Number)
		}
		if e.ConsensusStart != "" {
			at, err := time.Parse(time.RFC3339Nano, e.ConsensusStart)
			if err != nil {
				return Job{}, false, fmt.Errorf("message on %s: consensus_start %q: %w", subject, e.ConsensusStart, err)
			}
			job.Start = at.UTC()
		}
	}
	if e.FileHash != "" && !isHex(e.FileHash, 96) {
		return Job{}, false, fmt.Errorf("message on %s: file_hash %q is not 96 hex digits", subject, e.FileHash)
	}
	job.FileHash = e.FileHash
	return job, true, nil
}

func numberOrNone(n *uint64) string {
	if n == nil {
		return "missing"
	}
	return fmt.Sprint(*n)
}

// NewJob checks day and name: name must be a record file name
// (<consensus time>.rcd or .rcd.gz, no directory) and day its UTC date, or
// a block file name (<19-digit number>.blk, .blk.gz or .blk.zstd) and day
// a date.
func NewJob(day, name, node string) (Job, error) {
	if name == "" || strings.ContainsAny(name, `/\`+"\x00") || path.Clean(name) != name {
		return Job{}, fmt.Errorf("%q is not a record file name", name)
	}
	if IsBlockName(name) {
		n, err := blockstream.ParseName(name)
		if err != nil {
			return Job{}, err
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			return Job{}, fmt.Errorf("%s: day directory %q is not a date (YYYY-MM-DD)", name, day)
		}
		return Job{Day: day, Name: name, Node: node, Block: true, Number: n.Number}, nil
	}
	if !strings.HasSuffix(name, ".rcd") && !strings.HasSuffix(name, ".rcd.gz") {
		return Job{}, fmt.Errorf("%q is not a record file (.rcd or .rcd.gz) or a block (<19-digit number>.blk.zstd, .blk.gz, .blk)", name)
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

// IsBlockName says name is a block file's name in a day directory: 19
// digits and .blk, .blk.gz or .blk.zstd, nothing else.
func IsBlockName(name string) bool {
	stem := Stem(name)
	if len(stem) != 19 || stem+".blk" != name && stem+".blk.gz" != name && stem+".blk.zstd" != name {
		return false
	}
	for _, c := range stem {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Day lists the record files and blocks of one day directory,
// RECORD_DIR/<day>: record files in consensus order (names sort by
// consensus time), then blocks by number (blocks continue the record
// files' numbering, so a day that holds both is the cutover's). Other
// files (signature files, the sidecar directory, anything foreign) are
// left out; a file whose name is neither is reported, not parsed.
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
		if jobs[a].Block != jobs[b].Block {
			return !jobs[a].Block
		}
		if jobs[a].Block {
			return jobs[a].Number < jobs[b].Number
		}
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
