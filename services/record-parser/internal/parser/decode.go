package parser

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-parser/internal/esout"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// decoded is a record file read, checked against itself and its
// sidecars, and encoded: everything but the outputs.
type decoded struct {
	job      intake.Job
	file     *recordstream.RecordFile
	sidecars int
	// lines holds the documents, each followed by a newline: the NDJSON
	// file as it is written. docs are the same documents (without the
	// newline) for Elasticsearch.
	lines       []byte
	docs        []esout.Doc
	counts      map[typeResult]int
	parseErrors int
}

// release hands the document buffer back for the next file; d's
// documents must not be used after it.
func (p *Parser) release(d *decoded) {
	b := d.lines[:0]
	d.lines, d.docs = nil, nil
	p.buffers.Put(&b)
}

type typeResult struct{ name, result string }

// refusal is a file that cannot be parsed as it is: it is quarantined,
// and parsing it again would refuse it again.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// transient is a failure worth trying again: a file not there yet, a
// read that failed.
type transient struct {
	stage string
	err   error
}

func (t *transient) Error() string { return t.err.Error() }
func (t *transient) Unwrap() error { return t.err }

// reasonOf names a recordstream error for the quarantine and the metric.
func reasonOf(err error) string {
	var fe *recordstream.FormatError
	switch {
	case errors.Is(err, recordstream.ErrTruncated):
		return "truncated"
	case errors.Is(err, recordstream.ErrUnsupportedVersion):
		return "unsupported_version"
	case errors.Is(err, recordstream.ErrHashMismatch):
		return "hash_mismatch"
	case errors.As(err, &fe) && (strings.HasPrefix(fe.What, "gzip") || strings.HasPrefix(fe.What, "gunzip")):
		// Named .gz but not gzip (or corrupt inside).
		return "bad_gzip"
	default:
		return "malformed"
	}
}

// decode reads job's record file and its sidecars from the record dir and
// encodes every item. It does no output, so it runs in parallel.
func (p *Parser) decode(job intake.Job) (*decoded, []byte, error) {
	start := time.Now()
	path := filepath.Join(p.cfg.RecordDir, job.Day, job.Name)
	data, err := readFile(path)
	if errors.Is(err, errTooLarge) {
		return nil, nil, &refusal{"malformed", fmt.Errorf("%s: %w", job.Rel(), err)}
	}
	if err != nil {
		return nil, nil, &transient{"read", fmt.Errorf("read %s: %w", job.Rel(), err)}
	}
	f, err := recordstream.Parse(job.Name, data)
	if err != nil {
		return nil, data, &refusal{reasonOf(err), fmt.Errorf("%s: %w", job.Rel(), err)}
	}
	if job.FileHash != "" {
		if got := hex.EncodeToString(f.FileHash); got != job.FileHash {
			return nil, data, &refusal{"hash_mismatch", fmt.Errorf("%s: file hash %s, the downloader verified %s: the file changed on disk: %w",
				job.Rel(), got, job.FileHash, recordstream.ErrHashMismatch)}
		}
	}
	var side map[int64][]*hederapb.TransactionSidecarRecord
	if len(f.Sidecars) > 0 {
		var all []*hederapb.TransactionSidecarRecord
		for _, meta := range f.Sidecars {
			// meta.Name is built by recordstream from the record file's
			// own (checked) name, never taken from the file's bytes.
			rel := job.Day + "/sidecar/" + meta.Name
			sdata, err := readFile(filepath.Join(p.cfg.RecordDir, job.Day, "sidecar", meta.Name))
			if err != nil {
				return nil, data, &transient{"sidecar", fmt.Errorf("%s: sidecar %s: %w", job.Rel(), rel, err)}
			}
			sc, err := recordstream.ParseSidecar(meta.Name, sdata)
			if err != nil {
				return nil, data, &refusal{"sidecar_malformed", fmt.Errorf("%s: sidecar %s: %w", job.Rel(), rel, err)}
			}
			if err := meta.Check(sc); err != nil {
				return nil, data, &refusal{"sidecar_hash_mismatch", fmt.Errorf("%s: %w", job.Rel(), err)}
			}
			all = append(all, sc.Records...)
		}
		side = txdoc.SidecarsByConsensus(all)
	}
	d := &decoded{job: job, file: f, sidecars: len(f.Sidecars), counts: map[typeResult]int{}}
	src := txdoc.Source{File: job.Name, BlockNumber: f.BlockNumber, HasBlock: f.Version == 6}
	enc := p.encoders.Get().(*txdoc.Encoder)
	defer p.encoders.Put(enc)
	// A buffer of an earlier file is reused: a file's documents are a few
	// megabytes, and zeroing and collecting fresh ones costs more than
	// encoding them.
	if b, ok := p.buffers.Get().(*[]byte); ok {
		d.lines = (*b)[:0]
	} else {
		d.lines = make([]byte, 0, len(data)*2+len(f.Items)*256)
	}
	offsets := make([]int, 0, len(f.Items)+1)
	metas := make([]txdoc.Meta, 0, len(f.Items))
	for i, it := range f.Items {
		offsets = append(offsets, len(d.lines))
		var meta txdoc.Meta
		d.lines, meta = enc.Append(d.lines, src, i, it, side[it.ConsensusNs])
		d.lines = append(d.lines, '\n')
		metas = append(metas, meta)
	}
	offsets = append(offsets, len(d.lines))
	// Slices of lines are taken once it no longer grows.
	d.docs = make([]esout.Doc, len(metas))
	for i, meta := range metas {
		d.docs[i] = esout.Doc{ID: meta.ID, Source: d.lines[offsets[i] : offsets[i+1]-1]}
		d.counts[typeResult{meta.Name, meta.Result}]++
		if meta.ParseError != "" {
			d.parseErrors++
		}
	}
	p.m.Parse.Observe(time.Since(start).Seconds())
	return d, data, nil
}

var errTooLarge = fmt.Errorf("more than a record file can be (%d bytes)", recordstream.MaxFileSize)

// readFile reads a file of at most recordstream.MaxFileSize bytes.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > recordstream.MaxFileSize {
		return nil, fmt.Errorf("%d bytes: %w", st.Size(), errTooLarge)
	}
	data := make([]byte, st.Size())
	if _, err := fh.ReadAt(data, 0); err != nil {
		return nil, err
	}
	return data, nil
}
