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
	"tributary.dev/services/record-parser/internal/state"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// decoded is a record file (or block) read, checked against itself and
// its sidecars, and encoded: everything but the outputs.
type decoded struct {
	job  intake.Job
	sum  summary
	file *recordstream.RecordFile // a record file's, a wrapped record block's; nil for a block
	// sidecars is the number of sidecar files read with a record file.
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

// summary is what the state, the parsed event and the block document say
// of a file: a record file, a block, or a wrapped record block.
type summary struct {
	kind    string // state.KindRecord, KindBlock, KindWrapped
	version int    // 2, 5, 6; 7 for a block
	// start and end are the first and last consensus times (ns).
	start, end int64
	count      int
	fileHash   []byte
	// prevHash is what the file starts from (a block: its footer's
	// previous root hash); chainHash what the next file must start from.
	prevHash, chainHash []byte
	// rootHash is a block's or wrapped record block's root hash.
	rootHash []byte
	// blockTime is a block's header time (ns): it names the block's day.
	blockTime int64
	algorithm string // of the root hash
	// number is the block number, nil when the file names none.
	number  *int64
	hapi    string
	name    string // the REST block name: the file name (a wrapped block: its record file's)
	size    int64  // bytes: a record file's as stored, a block's uncompressed
	gasUsed uint64 // EVM gas of the top-level transactions
	// bloom is the OR of the top-level contract results' blooms; nil when
	// not known (a block's logs, whose blooms are not computed).
	bloom []byte
}

// decode reads job's file from the record dir and encodes every
// transaction. It does no output, so it runs in parallel.
func (p *Parser) decode(job intake.Job) (*decoded, []byte, error) {
	if job.Block {
		return p.decodeBlock(job)
	}
	start := time.Now()
	path := filepath.Join(p.cfg.RecordDir, job.Day, job.Name)
	data, err := readFile(path, recordstream.MaxFileSize)
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
			sdata, err := readFile(filepath.Join(p.cfg.RecordDir, job.Day, "sidecar", meta.Name), recordstream.MaxFileSize)
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
	d := &decoded{job: job, file: f, sidecars: len(f.Sidecars), sum: recordSummary(state.KindRecord, job.Name, f)}
	src := txdoc.Source{File: job.Name, BlockNumber: f.BlockNumber, HasBlock: f.Version == 6}
	p.encode(d, src, f.Items, side, len(data))
	p.m.Parse.Observe(time.Since(start).Seconds())
	return d, data, nil
}

// recordSummary is the summary of a record file (kind record) or of the
// record file a wrapped record block carries (kind wrapped: the caller
// adds the block's root hash and number).
func recordSummary(kind, name string, f *recordstream.RecordFile) summary {
	s := summary{kind: kind, version: f.Version, start: f.ConsensusStart, end: f.ConsensusEnd, count: len(f.Items),
		fileHash: f.FileHash, prevHash: f.PrevHash, chainHash: f.ChainHash(), name: name, size: f.Size}
	if f.Version == 2 {
		s.hapi = fmt.Sprintf("0.%d.0", f.LegacyHAPI)
	} else {
		s.hapi = fmt.Sprintf("%d.%d.%d", f.HAPI.Major, f.HAPI.Minor, f.HAPI.Patch)
	}
	if f.Version == 6 {
		n := f.BlockNumber
		s.number = &n
	}
	return s
}

// encode appends every item's document to d.lines (reusing a buffer of an
// earlier file) and fills d.docs, the counts and the file's gas and bloom.
// sizeHint is the file's size, for a first buffer.
func (p *Parser) encode(d *decoded, src txdoc.Source, items []recordstream.Item, side map[int64][]*hederapb.TransactionSidecarRecord, sizeHint int) {
	d.counts = map[typeResult]int{}
	enc := p.encoders.Get().(*txdoc.Encoder)
	defer p.encoders.Put(enc)
	// A buffer of an earlier file is reused: a file's documents are a few
	// megabytes, and zeroing and collecting fresh ones costs more than
	// encoding them.
	if b, ok := p.buffers.Get().(*[]byte); ok {
		d.lines = (*b)[:0]
	} else {
		d.lines = make([]byte, 0, sizeHint*2+len(items)*256)
	}
	offsets := make([]int, 0, len(items)+1)
	metas := make([]txdoc.Meta, 0, len(items))
	var gas evmTotals
	for i, it := range items {
		offsets = append(offsets, len(d.lines))
		var meta txdoc.Meta
		d.lines, meta = enc.Append(d.lines, src, i, it, side[it.ConsensusNs])
		d.lines = append(d.lines, '\n')
		metas = append(metas, meta)
		gas.add(it.Record)
	}
	offsets = append(offsets, len(d.lines))
	d.sum.gasUsed, d.sum.bloom = gas.gas, gas.bloomOrNil()
	// Slices of lines are taken once it no longer grows.
	d.docs = make([]esout.Doc, len(metas))
	for i, meta := range metas {
		d.docs[i] = esout.Doc{ID: meta.ID, Source: d.lines[offsets[i] : offsets[i+1]-1]}
		d.counts[typeResult{meta.Name, meta.Result}]++
		if meta.ParseError != "" {
			d.parseErrors++
		}
	}
}

var errTooLarge = errors.New("more than such a file can be")

// readFile reads a file of at most limit bytes.
func readFile(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%d bytes, %w (%d bytes)", st.Size(), errTooLarge, limit)
	}
	data := make([]byte, st.Size())
	if _, err := fh.ReadAt(data, 0); err != nil {
		return nil, err
	}
	return data, nil
}
