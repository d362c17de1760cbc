package parser

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"tributary.dev/services/record-parser/internal/esout"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/state"
)

// blockDocument is the file's document in the block index: the mirror
// node REST API's block object (number, hash, previous_hash, hapi_version,
// count, gas_used, logs_bloom, name, size, timestamp {from, to}) and a few
// fields of ours. A wrapped record block is its record file, as the mirror
// node serves it: the record file's hashes and name, with the block's
// root hash beside them.
func (p *Parser) blockDocument(d *decoded, f *state.File) []byte {
	s := &d.sum
	b := make([]byte, 0, 1024)
	b = append(b, `{"number":`...)
	if f.BlockNumber != nil {
		b = strconv.AppendInt(b, *f.BlockNumber, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"hash":"0x`...)
	b = hex.AppendEncode(b, s.chainHash)
	b = append(b, `","previous_hash":"0x`...)
	b = hex.AppendEncode(b, s.prevHash)
	b = append(b, `","hapi_version":`...)
	b = strconv.AppendQuote(b, s.hapi)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(s.count), 10)
	b = append(b, `,"gas_used":`...)
	b = strconv.AppendUint(b, s.gasUsed, 10)
	b = append(b, `,"logs_bloom":`...)
	if s.bloom != nil {
		b = append(b, `"0x`...)
		b = hex.AppendEncode(b, s.bloom)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"name":`...)
	b = strconv.AppendQuote(b, s.name)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, s.size, 10)
	b = append(b, `,"timestamp":{"from":"`...)
	b = appendSecNanos(b, s.start)
	b = append(b, `","to":"`...)
	b = appendSecNanos(b, s.end)
	b = append(b, `"},"consensus_start_at":"`...)
	b = time.Unix(0, s.start).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	b = append(b, `","consensus_end_at":"`...)
	b = time.Unix(0, s.end).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	b = append(b, `","kind":`...)
	b = strconv.AppendQuote(b, s.kind)
	b = append(b, `,"format_version":`...)
	b = strconv.AppendInt(b, int64(s.version), 10)
	b = append(b, `,"file":`...)
	b = strconv.AppendQuote(b, d.job.Rel())
	b = append(b, `,"file_hash":"`...)
	b = hex.AppendEncode(b, s.fileHash)
	b = append(b, `","block_hash":`...)
	if s.rootHash != nil {
		b = append(b, `"0x`...)
		b = hex.AppendEncode(b, s.rootHash)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"root_hash_algorithm":`...)
	if s.algorithm != "" {
		b = strconv.AppendQuote(b, s.algorithm)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"transactions_index":`...)
	if f.Index != "" {
		b = strconv.AppendQuote(b, f.Index)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// appendSecNanos appends ns as the REST API writes times: seconds.nanos.
func appendSecNanos(b []byte, ns int64) []byte {
	sec, n := ns/1e9, ns%1e9
	if n < 0 {
		sec, n = sec-1, n+1e9
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	s := strconv.AppendInt(nil, n, 10)
	for i := len(s); i < 9; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// blockDocID is the block document's _id: its hash, as the document gives
// it, so a file parsed again overwrites its document.
func blockDocID(d *decoded) string { return "0x" + hex.EncodeToString(d.sum.chainHash) }

// BlocksDir is the directory of OUTPUT_DIR the block documents' NDJSON
// goes to, so that the day directories hold transactions only.
const BlocksDir = "_blocks"

// blockNDJSONRel is where the block document's NDJSON goes, beside the
// transactions': OUTPUT_DIR/_blocks/<day>/<stem>.ndjson.
func blockNDJSONRel(job intake.Job) string {
	return BlocksDir + "/" + job.Day + "/" + job.Stem() + ".ndjson"
}

// writeBlockNDJSON writes the block document as a one-line NDJSON file,
// whole or not at all.
func (p *Parser) writeBlockNDJSON(d *decoded, doc []byte) error {
	if p.out == nil {
		return nil
	}
	w, err := p.out.Create(blockNDJSONRel(d.job))
	if err != nil {
		return fmt.Errorf("block NDJSON for %s: %w", d.job.Rel(), err)
	}
	defer w.Abort()
	if _, err := w.Write(append(doc, '\n')); err != nil {
		return fmt.Errorf("block NDJSON for %s: %w", d.job.Rel(), err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("block NDJSON for %s: %w", d.job.Rel(), err)
	}
	return nil
}

// indexBlock writes the block document to its day's block index; one
// Elasticsearch refuses for good goes to the dead letters beside the
// file's others.
func (p *Parser) indexBlock(ctx context.Context, d *decoded, f *state.File, doc []byte) error {
	if p.es == nil {
		return nil
	}
	index := esout.BlocksIndexName(d.start())
	rejected, err := p.es.Write(ctx, index, []esout.Doc{{ID: blockDocID(d), Source: doc}})
	if err != nil {
		p.m.Failed.WithLabelValues("elasticsearch").Inc()
		return fmt.Errorf("index %s into %s: %w", d.job.Rel(), index, err)
	}
	if len(rejected) == 0 {
		return nil
	}
	ix := *f
	ix.Index = index
	if err := p.deadLetterAs(d, &ix, rejected, d.job.Day+"/"+d.job.Stem()+".block.ndjson"); err != nil {
		p.m.Failed.WithLabelValues("deadletter").Inc()
		return err
	}
	p.m.DeadLetters.Add(float64(len(rejected)))
	p.log.Error("block document refused by Elasticsearch written to the dead-letter file",
		zap.String("file", d.job.Rel()), zap.String("index", index), zap.String("reason", rejected[0].Type+": "+rejected[0].Reason),
		zap.String("deadletter", filepath.Join(p.cfg.DeadLetterDir, d.job.Day, d.job.Stem()+".block.ndjson")))
	return nil
}

// blockPlace is where a block that could not be read stands in the
// stream's consensus order: the time its event gave, else just after the
// parsed file numbered before it, else nowhere known (0).
func (p *Parser) blockPlace(ctx context.Context, job intake.Job) (int64, error) {
	if !job.Start.IsZero() {
		return job.Start.UnixNano(), nil
	}
	if job.Number == 0 {
		return 0, nil
	}
	before, err := p.st.Numbered(ctx, int64(job.Number)-1)
	if err != nil || before == nil {
		return 0, err
	}
	return before.ConsensusEnd + 1, nil
}
