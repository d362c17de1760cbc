// Package parser is the record-parser's domain: a record file or block
// in, its transactions out as documents (NDJSON and Elasticsearch) with a
// document for the block, the file and its place in the hash chain
// recorded, hedera.records.parsed announced.
// Every step is idempotent — documents are keyed by consensus timestamp,
// files are replaced atomically, the state row is unique per file — so a
// file parsed again after a crash gives the same result, not a second one.
package parser

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/faults"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-parser/internal/announce"
	"tributary.dev/services/record-parser/internal/esout"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/ndjson"
	"tributary.dev/services/record-parser/internal/quarantine"
	"tributary.dev/services/record-parser/internal/state"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// SubjectPrefix is followed by the node number.
const SubjectPrefix = announce.SubjectPrefix

// Config is what the parser does; main fills it from the environment.
type Config struct {
	RecordDir     string // the downloader's DEST_DIR, read only
	OutputDir     string // NDJSON root; "" turns NDJSON off
	DeadLetterDir string // documents Elasticsearch refused
	QuarantineDir string // record files refused
	// Kind names this process in the temp files it writes (service,
	// backfill, reparse): start-up cleans only its own kind's.
	Kind        string
	Network     string // keys the chain state
	StopOnBreak bool   // ON_CHAIN_BREAK=stop
	Concurrency int    // files decoded at once
	// ChainWait is how long a file whose predecessor is not recorded yet
	// waits (another replica may be writing it, or it is late) before the
	// gap is judged a chain break: from the first time any replica saw it
	// behind the same recorded file (while files before it are recorded,
	// the stream is catching up and the wait starts again).
	ChainWait time.Duration
	// Heartbeat is how often the stream is told a file in hand is still
	// being worked on, so that ACK_WAIT never hands it to another replica
	// mid-work; a third of ACK_WAIT. 0: every 10 s.
	Heartbeat time.Duration
	// Documents is what documents hold beyond the default
	// (TRANSACTION_BYTES).
	Documents txdoc.Options
}

// Index is the Elasticsearch output (esout.Output).
type Index interface {
	Write(ctx context.Context, index string, docs []esout.Doc) ([]esout.Rejected, error)
}

// Announcer stores announcements on the parsed stream (announce.Announcer).
type Announcer interface {
	Announce(ctx context.Context, subject, msgID string, payload []byte) (duplicate bool, err error)
}

// Parser parses record files. Its methods are safe for concurrent use.
type Parser struct {
	cfg Config
	st  *state.Store
	es  Index     // nil: Elasticsearch off
	bus Announcer // nil: no announcements
	log *zap.Logger
	m   *Metrics
	// The roots written, each with this process's temp files; out is
	// nil with NDJSON off.
	out, dead, quar *ndjson.Dir
	host            string
	encoders        sync.Pool
	buffers         sync.Pool // *[]byte: documents of a file done with
	blocks          *blockstream.Reader
	blockWork       sync.Pool // *blockWork
	// Beat tells /healthz the loop is alive; nil is fine.
	Beat func()
}

// New returns a parser. es and bus may be nil (that output off).
func New(cfg Config, st *state.Store, es Index, bus Announcer, log *zap.Logger, m *Metrics) (*Parser, error) {
	if cfg.OutputDir == "" && es == nil {
		return nil, errors.New("no output: set OUTPUT_DIR (NDJSON), ELASTICSEARCH_URL, or both")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Kind == "" {
		cfg.Kind = "service"
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.DeadLetterDir == "" {
		cfg.DeadLetterDir = filepath.Join(cfg.OutputDir, "_deadletter")
	}
	if cfg.QuarantineDir == "" {
		cfg.QuarantineDir = filepath.Join(cfg.OutputDir, "_quarantine")
	}
	p := &Parser{cfg: cfg, st: st, es: es, bus: bus, log: log, m: m, host: natsbus.Host(),
		blocks: blockstream.NewReader(blockstream.DefaultLimits)}
	owner := ndjson.Self(cfg.Kind)
	var err error
	if cfg.OutputDir != "" {
		if p.out, err = ndjson.NewDir(cfg.OutputDir, owner); err != nil {
			return nil, err
		}
	}
	if p.dead, err = ndjson.NewDir(cfg.DeadLetterDir, owner); err != nil {
		return nil, err
	}
	if p.quar, err = ndjson.NewDir(cfg.QuarantineDir, owner); err != nil {
		return nil, err
	}
	if st != nil {
		// Breaks the state finds itself, under its lock, follow the
		// stream's policy too.
		st.Policy = p.policy()
	}
	p.encoders.New = func() any { return txdoc.NewEncoder(cfg.Documents) }
	return p, nil
}

// CleanTemp removes the temp files a process of this kind left where
// this one writes (see ndjson.Dir.Clean), before the first file: by root,
// how many went.
func (p *Parser) CleanTemp() (map[string]int, error) {
	removed := map[string]int{}
	for _, d := range []*ndjson.Dir{p.out, p.dead, p.quar} {
		if d == nil {
			continue
		}
		n, err := d.Clean()
		if err != nil {
			return removed, err
		}
		if n > 0 {
			removed[d.Root()] += n
		}
	}
	return removed, nil
}

func (p *Parser) beat() {
	if p.Beat != nil {
		p.Beat()
	}
}

// Outcome is what became of a file.
type Outcome int

const (
	// Done: parsed now, or already before; the message may be acked.
	Done Outcome = iota
	// Quarantined: refused, copied to QUARANTINE_DIR, recorded.
	Quarantined
	// Wait: its predecessor is not recorded yet; try again shortly.
	Wait
	// Halted: the stream stops at a chain break until the missing file
	// is parsed or an operator resumes it.
	Halted
)

// Options qualify one file's processing.
type Options struct {
	// Wait lets a file whose predecessor is not recorded yet wait for it
	// (CHAIN_WAIT): the stream's files, which replicas parse side by
	// side. A backfill, in consensus order, never waits.
	Wait bool
	// Force parses a file already recorded again (backfill --force):
	// documents and NDJSON are written again, over the old ones. A file
	// recorded as quarantined is revived: parsed and recorded as parsed
	// if it fits the chain on both sides (the operator replaced the copy).
	Force bool
}

// ErrNotQuarantined is Reparse's refusal of a file that is not recorded
// as quarantined.
var ErrNotQuarantined = errors.New("not recorded as quarantined")

// Process parses one file through every output. An error means nothing
// was recorded and the file should be tried again later.
func (p *Parser) Process(ctx context.Context, job intake.Job, opt Options) (Outcome, error) {
	return p.process(ctx, job, opt, nil)
}

// Reparse parses a file recorded as quarantined again — the operator
// replaced the copy in RECORD_DIR — and records it as parsed if it fits
// the chain on both sides, closing the gap it left: the breaks it
// explains are resolved and a halt they caused is lifted. The quarantine
// copy goes once the file is recorded. A file not quarantined gives
// ErrNotQuarantined, except one recorded as parsed whose event did not go
// out (a re-parse cut short): that one is finished. One still refused
// stays quarantined (its copy and reason rewritten) and gives an error
// saying why.
func (p *Parser) Reparse(ctx context.Context, job intake.Job) (Outcome, error) {
	prev, err := p.st.Lookup(ctx, job.Name)
	if err != nil {
		return 0, err
	}
	if prev == nil {
		return 0, fmt.Errorf("%s: not recorded: %w (the stream parses it when it comes, or backfill its day)", job.Rel(), ErrNotQuarantined)
	}
	if prev.Outcome == state.Parsed && !prev.Announced && p.bus != nil {
		// A re-parse cut short after the file was recorded: finish it.
		out, err := p.process(ctx, job, Options{Force: true}, nil)
		if err == nil && out == Done {
			if err := quarantine.RemoveIn(p.quar, job.Day, job.Name); err != nil {
				p.log.Warn("quarantine copy not removed", zap.String("file", job.Rel()), zap.Error(err))
			}
		}
		return out, err
	}
	if prev.Outcome != state.Quarantined {
		return 0, fmt.Errorf("%s: recorded as %s: %w (backfill --force parses a parsed file again)", job.Rel(), prev.Outcome, ErrNotQuarantined)
	}
	return p.process(ctx, job, Options{Force: true}, nil)
}

// process is Process with a turn to wait for between decoding (which
// overlaps with other files') and the chain verdict (which must not).
func (p *Parser) process(ctx context.Context, job intake.Job, opt Options, waitTurn func()) (Outcome, error) {
	start := time.Now()
	turn := func() {
		if waitTurn != nil {
			waitTurn()
			waitTurn = nil
		}
	}
	defer turn()
	prev, err := p.st.Lookup(ctx, job.Name)
	if err != nil {
		p.m.Failed.WithLabelValues("state").Inc()
		return 0, err
	}
	revive := false
	if prev != nil {
		switch {
		case prev.Outcome == state.Quarantined && opt.Force:
			// Announced under the node whose copy the downloader kept.
			revive, job.Node = true, prev.Node
		case prev.Outcome == state.Quarantined:
			return Quarantined, nil
		case opt.Force:
		case prev.Announced || p.bus == nil:
			return Done, nil
		}
		// Recorded, but the process died before the event went out: the
		// outputs are there; parsing again rewrites them identically and
		// announces.
	}
	// A halted stream's files are not even read: the check is cheap,
	// decoding is not.
	if held, err := p.heldByHalt(ctx, jobPosition(job), false); err != nil || held {
		return Halted, err
	}
	d, data, err := p.decode(job)
	turn()
	// Again after the turn: the file before it may have halted the stream.
	// Where a block stands is known once it is read.
	pos := jobPosition(job)
	if d != nil {
		pos = position{start: d.sum.start, number: d.sum.number}
	}
	if held, err := p.heldByHalt(ctx, pos, d != nil); err != nil || held {
		if err == nil && d != nil {
			p.release(d)
		}
		return Halted, err
	}
	var ref *refusal
	var tr *transient
	switch {
	case errors.As(err, &ref):
		out, qerr := p.quarantine(ctx, job, data, ref)
		if revive && qerr == nil {
			return 0, fmt.Errorf("%s is still refused, and stays quarantined: %w", job.Rel(), ref)
		}
		return out, qerr
	case errors.As(err, &tr):
		p.m.Failed.WithLabelValues(tr.stage).Inc()
		return 0, err
	case err != nil:
		return 0, err
	}
	defer p.release(d)
	out, err := p.commit(ctx, d, opt, revive)
	if err == nil && out == Done {
		p.m.File.Observe(time.Since(start).Seconds())
	}
	return out, err
}

// position is where a file stands in the stream: its consensus start (ns;
// 0 when not known, a block not read yet) and its block number (nil when
// it names none).
type position struct {
	start  int64
	number *int64
}

// jobPosition is what a job says of its position before it is read: a
// record file's time is in its name, a block's number in its name and its
// time in its event (when it came with one).
func jobPosition(job intake.Job) position {
	var pos position
	if !job.Start.IsZero() {
		pos.start = job.Start.UnixNano()
	}
	if job.Block {
		n := int64(job.Number)
		pos.number = &n
	}
	return pos
}

// heldByHalt says whether the stream's halt holds back the file at pos:
// it is halted at a chain break and the file is not before the file it
// halted at (compared by block number where both have one, else by
// consensus time). Files before it go on: one of them may be the missing
// file whose arrival lifts the halt (state.Store.Record). A file whose
// position cannot be compared yet is held only when final (it has been
// read).
func (p *Parser) heldByHalt(ctx context.Context, pos position, final bool) (bool, error) {
	h, err := p.st.Halted(ctx)
	if err != nil {
		p.m.Failed.WithLabelValues("state").Inc()
		return false, err
	}
	if h == nil {
		p.m.Halted.Set(0)
		return false, nil
	}
	// Nothing of the stream from the halt on is parsed until the gap is
	// filled or an operator resumes (which accepts the break, so the file
	// that broke it goes on).
	p.m.Halted.Set(1)
	if pos.number != nil && h.BlockNumber != nil {
		return *pos.number >= *h.BlockNumber, nil
	}
	haltStart := h.ConsensusStart
	if haltStart == nil {
		// A halt recorded by an earlier version: its file's name says
		// its time.
		if at, err := recordstream.NameTime(h.File); err == nil {
			ns := at.UnixNano()
			haltStart = &ns
		}
	}
	if pos.start != 0 && haltStart != nil {
		return pos.start >= *haltStart, nil
	}
	return final, nil
}

// commit judges the chain, writes the outputs, records the file and
// announces it. revive: the file is recorded as quarantined and is taken
// back (Reparse).
func (p *Parser) commit(ctx context.Context, d *decoded, opt Options, revive bool) (Outcome, error) {
	f := p.stateFile(d)
	link, err := p.st.Neighbours(ctx, f)
	if err != nil {
		p.m.Failed.WithLabelValues("state").Inc()
		return 0, err
	}
	if f.BlockNumber == nil && link.Prev != nil && link.Prev.BlockNumber != nil && state.Follows(link.Prev, f).OK {
		// A record file that names no block (v2, v5) continuing a
		// numbered one is the block after it, as the mirror node numbers
		// record files.
		n := *link.Prev.BlockNumber + 1
		f.BlockNumber, d.sum.number = &n, &n
	}
	var breaks []state.Break
	switch {
	case revive:
		// A replaced copy takes the quarantined file's place only if it is
		// that file: it continues the one before and the one after
		// continues it. Nothing is written otherwise.
		br, err := p.st.ReviveBreaks(ctx, f)
		if err != nil {
			p.m.Failed.WithLabelValues("state").Inc()
			return 0, err
		}
		if len(br) > 0 {
			return 0, &state.NotChained{File: f.Name, Breaks: br}
		}
	case !link.PrevOK(f):
		if opt.Wait && p.cfg.ChainWait > 0 {
			waited, err := p.st.Waited(ctx, f.Name, link.Prev.Name, p.waitRestart())
			if err != nil {
				p.m.Failed.WithLabelValues("state").Inc()
				return 0, err
			}
			if waited < p.cfg.ChainWait {
				p.m.ChainWaits.Inc()
				p.log.Info("waiting for the previous file: it does not follow the nearest one recorded yet",
					zap.String("file", d.job.Rel()), zap.String("recorded_before", link.Prev.Name),
					zap.Duration("waited", waited.Round(time.Millisecond)), zap.Duration("chain_wait", p.cfg.ChainWait))
				return Wait, nil
			}
		}
		accepted, err := p.st.BreakAccepted(ctx, f.Name)
		if err != nil {
			p.m.Failed.WithLabelValues("state").Inc()
			return 0, err
		}
		if !accepted {
			v := state.Follows(link.Prev, f)
			br := state.Break{File: f.Name, PrevFile: link.Prev.Name, Expected: v.Expected, Found: v.Found, Reason: v.Reason, Policy: p.policy()}
			p.m.ChainBreaks.Inc()
			p.log.Error("chain broken: the file does not continue the previous one",
				zap.String("file", d.job.Rel()), zap.String("previous", link.Prev.Name), zap.String("reason", br.Why()),
				zap.String("previous_ends_with", hex.EncodeToString(br.Expected)), zap.String("file_starts_from", hex.EncodeToString(br.Found)),
				zap.String("policy", br.Policy))
			if p.cfg.StopOnBreak {
				if err := p.st.AddBreak(ctx, br); err != nil {
					return 0, err
				}
				if err := p.st.Halt(ctx, f, fmt.Sprintf("chain broken: %s does not follow %s (%s)", f.Name, link.Prev.Name, br.Why())); err != nil {
					return 0, err
				}
				p.m.Halted.Set(1)
				return Halted, nil
			}
			breaks = append(breaks, br)
		}
	}
	// The other side — a later file recorded while this one was not —
	// is judged by Record under the network's lock: a gap this file fills
	// is resolved there, and a pair that does not fit is recorded.

	if err := p.writeNDJSON(d, f); err != nil {
		p.m.Failed.WithLabelValues("ndjson").Inc()
		return 0, err
	}
	block := p.blockDocument(d, f)
	if err := p.writeBlockNDJSON(d, block); err != nil {
		p.m.Failed.WithLabelValues("ndjson").Inc()
		return 0, err
	}
	faults.Point("after-ndjson")
	if err := p.index(ctx, d, f); err != nil {
		return 0, err
	}
	if err := p.indexBlock(ctx, d, f, block); err != nil {
		return 0, err
	}
	faults.Point("after-index")
	announced := false
	if revive {
		link, err = p.st.Revive(ctx, f)
	} else {
		link, err = p.st.Record(ctx, f, breaks)
		if errors.Is(err, state.ErrRecorded) {
			// Another replica (or an earlier run) recorded it meanwhile;
			// its event may be out already.
			announced, err = link.Existing.Announced, nil
		}
	}
	if err != nil {
		p.m.Failed.WithLabelValues("state").Inc()
		return 0, err
	}
	p.reportResolved(d, link)
	faults.Point("after-record")
	if !announced {
		if err := p.announce(ctx, d, f); err != nil {
			p.m.PublishFail.Inc()
			p.m.Failed.WithLabelValues("publish").Inc()
			return 0, err
		}
	}
	if revive {
		p.m.Reparsed.Inc()
		p.log.Warn("quarantined file parsed after all and recorded", zap.String("file", d.job.Rel()),
			zap.Int("transactions", len(d.docs)))
		if err := quarantine.RemoveIn(p.quar, d.job.Day, d.job.Name); err != nil {
			// The file is recorded; the stale copy is only clutter.
			p.log.Warn("quarantine copy not removed", zap.String("file", d.job.Rel()), zap.Error(err))
		}
	}
	p.account(d)
	return Done, nil
}

// waitRestart is how long a waiting file may go unseen before its wait
// starts again: it was not being waited for (a halt, a stop).
func (p *Parser) waitRestart() time.Duration { return max(p.cfg.ChainWait, time.Minute) }

// reportResolved logs the breaks a recorded file showed to be a gap it
// filled, and the halt lifted with them.
func (p *Parser) reportResolved(d *decoded, link state.Link) {
	for _, b := range link.Resolved {
		p.log.Info("not a chain break after all: the file between them came",
			zap.String("file", b.File), zap.String("previous", b.PrevFile), zap.String("filled_by", b.ResolvedBy))
	}
	if link.Lifted != nil {
		p.m.Halted.Set(0)
		p.log.Warn("halt lifted: the missing file filled the gap the stream stopped at",
			zap.String("halted_at", link.Lifted.File), zap.String("filled_by", d.job.Rel()),
			zap.Duration("halted_for", time.Since(link.Lifted.Since).Round(time.Second)))
	}
}

func (p *Parser) policy() string {
	if p.cfg.StopOnBreak {
		return state.PolicyStop
	}
	return state.PolicyContinue
}

// stateFile is the state row of a decoded file.
func (p *Parser) stateFile(d *decoded) *state.File {
	s := &d.sum
	f := &state.File{
		Name: d.job.Name, Node: d.job.Node, Kind: s.kind, Version: s.version,
		ConsensusStart: s.start, ConsensusEnd: s.end, Count: s.count,
		FileHash: s.fileHash, PrevHash: s.prevHash, ChainHash: s.chainHash, RootHash: s.rootHash,
		BlockNumber: s.number, Outcome: state.Parsed,
	}
	if p.out != nil {
		f.NDJSON = p.ndjsonRel(d.job)
	}
	if p.es != nil {
		f.Index = esout.IndexName(d.start())
	}
	return f
}

// start is the time that names the file's day (its day directory, its
// indices): a record file's name's, a block's header time.
func (d *decoded) start() int64 {
	if !d.job.Block {
		return d.job.Start.UnixNano()
	}
	return d.sum.blockTime
}

func (p *Parser) ndjsonRel(job intake.Job) string { return job.Day + "/" + job.Stem() + ".ndjson" }

func (p *Parser) writeNDJSON(d *decoded, f *state.File) error {
	if p.out == nil {
		return nil
	}
	w, err := p.out.Create(f.NDJSON)
	if err != nil {
		return fmt.Errorf("NDJSON for %s: %w", d.job.Rel(), err)
	}
	defer w.Abort()
	if _, err := w.Write(d.lines); err != nil {
		return fmt.Errorf("NDJSON for %s: %w", d.job.Rel(), err)
	}
	faults.Point("ndjson-temp-written")
	if err := w.Commit(); err != nil {
		return fmt.Errorf("NDJSON for %s: %w", d.job.Rel(), err)
	}
	return nil
}

// indexChunk is how many documents go to Elasticsearch in one Write.
const indexChunk = 2000

// index writes the documents to Elasticsearch and the ones it refuses
// for good to the dead-letter file, durable before the file is recorded.
func (p *Parser) index(ctx context.Context, d *decoded, f *state.File) error {
	if p.es == nil || len(d.docs) == 0 {
		return nil
	}
	// In chunks, so a file of many thousand transactions is never one
	// huge request and its documents are not all held twice at once.
	var rejected []esout.Rejected
	for from := 0; from < len(d.docs); from += indexChunk {
		if from > 0 {
			faults.Point("between-bulk-chunks")
		}
		r, err := p.es.Write(ctx, f.Index, d.docs[from:min(from+indexChunk, len(d.docs))])
		if err != nil {
			p.m.Failed.WithLabelValues("elasticsearch").Inc()
			return fmt.Errorf("index %s into %s: %w", d.job.Rel(), f.Index, err)
		}
		rejected = append(rejected, r...)
	}
	if len(rejected) == 0 {
		return nil
	}
	if err := p.deadLetter(d, f, rejected); err != nil {
		p.m.Failed.WithLabelValues("deadletter").Inc()
		return err
	}
	p.m.DeadLetters.Add(float64(len(rejected)))
	p.log.Error("documents refused by Elasticsearch written to the dead-letter file",
		zap.String("file", d.job.Rel()), zap.Int("refused", len(rejected)),
		zap.String("first_id", rejected[0].ID), zap.String("first_reason", rejected[0].Type+": "+rejected[0].Reason),
		zap.String("deadletter", filepath.Join(p.cfg.DeadLetterDir, d.job.Day, d.job.Stem()+".ndjson")))
	return nil
}

// deadLetter is one line of a dead-letter file: the document and why
// Elasticsearch refused it, enough to index it again by hand.
type deadLetter struct {
	Index    string          `json:"index"`
	ID       string          `json:"id"`
	File     string          `json:"record_file"`
	Status   int             `json:"status"`
	Type     string          `json:"type"`
	Reason   string          `json:"reason"`
	Document json.RawMessage `json:"document"`
}

func (p *Parser) deadLetter(d *decoded, f *state.File, rejected []esout.Rejected) error {
	return p.deadLetterAs(d, f, rejected, d.job.Day+"/"+d.job.Stem()+".ndjson")
}

// deadLetterAs writes the dead letters of f's documents in f.Index to
// rel in DEADLETTER_DIR.
func (p *Parser) deadLetterAs(d *decoded, f *state.File, rejected []esout.Rejected, rel string) error {
	w, err := p.dead.Create(rel)
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", d.job.Rel(), err)
	}
	defer w.Abort()
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	for _, r := range rejected {
		line.Reset()
		if err := enc.Encode(deadLetter{Index: f.Index, ID: r.ID, File: d.job.Rel(), Status: r.Status, Type: r.Type, Reason: r.Reason, Document: r.Source}); err != nil {
			return fmt.Errorf("dead letters of %s: %w", d.job.Rel(), err)
		}
		if _, err := w.Write(line.Bytes()); err != nil {
			return fmt.Errorf("dead letters of %s: %w", d.job.Rel(), err)
		}
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("dead letters of %s: %w", d.job.Rel(), err)
	}
	return nil
}

// quarantine copies a refused file aside and records it, so its next
// delivery is acknowledged at once.
func (p *Parser) quarantine(ctx context.Context, job intake.Job, data []byte, ref *refusal) (Outcome, error) {
	where, err := quarantine.PutIn(p.quar, job.Day, job.Name, data, ref.reason, ref.err)
	if err != nil {
		p.m.Failed.WithLabelValues("quarantine").Inc()
		return 0, fmt.Errorf("quarantine %s: %w", job.Rel(), err)
	}
	f := &state.File{Name: job.Name, Node: job.Node, ConsensusStart: job.Start.UnixNano(), ConsensusEnd: job.Start.UnixNano(),
		Outcome: state.Quarantined, Reason: ref.reason + ": " + ref.err.Error()}
	if job.Block {
		// A block that could not be read stands where its number puts
		// it: after the block numbered before it.
		n := int64(job.Number)
		f.Kind, f.Version, f.BlockNumber = state.KindBlock, blockVersion, &n
		at, err := p.blockPlace(ctx, job)
		if err != nil {
			p.m.Failed.WithLabelValues("state").Inc()
			return 0, err
		}
		f.ConsensusStart, f.ConsensusEnd = at, at
	}
	if _, err := p.st.Record(ctx, f, nil); err != nil && !errors.Is(err, state.ErrRecorded) {
		p.m.Failed.WithLabelValues("state").Inc()
		return 0, err
	}
	p.m.Quarantined.WithLabelValues(ref.reason).Inc()
	p.log.Error("file refused and quarantined", zap.String("file", job.Rel()), zap.String("reason", ref.reason),
		zap.String("copy", where), zap.Error(ref.err))
	return Quarantined, nil
}

// Event is the payload of proto/events/hedera.records.parsed.schema.json.
type Event struct {
	V              int     `json:"v"`
	Host           string  `json:"host"`
	UTCTS          string  `json:"utcts"`
	Node           string  `json:"node"`
	File           string  `json:"file"`
	Kind           string  `json:"kind"`
	FormatVersion  int     `json:"format_version"`
	ConsensusStart string  `json:"consensus_start"`
	ConsensusEnd   string  `json:"consensus_end"`
	Count          int     `json:"count"`
	Hash           string  `json:"hash"`
	PrevHash       string  `json:"prev_hash"`
	BlockNumber    *int64  `json:"block_number"`
	Sidecars       int     `json:"sidecars"`
	NDJSON         *string `json:"ndjson"`
	Index          *string `json:"index"`
	BlockHash      *string `json:"block_hash"`
	BlocksIndex    *string `json:"blocks_index"`
}

// consensusTime formats ns as the events carry times.
func consensusTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.999999999Z")
}

func (p *Parser) announce(ctx context.Context, d *decoded, f *state.File) error {
	if p.bus == nil {
		return nil
	}
	e := Event{V: 1, Host: p.host, UTCTS: natsbus.UTCTS(time.Now()), Node: d.job.Node, File: d.job.Rel(), Kind: f.Kind,
		FormatVersion: f.Version, ConsensusStart: consensusTime(f.ConsensusStart), ConsensusEnd: consensusTime(f.ConsensusEnd),
		Count: f.Count, Hash: hex.EncodeToString(f.ChainHash), PrevHash: hex.EncodeToString(f.PrevHash),
		BlockNumber: f.BlockNumber, Sidecars: d.sidecars}
	if f.NDJSON != "" {
		e.NDJSON = &f.NDJSON
	}
	if f.Index != "" {
		e.Index = &f.Index
	}
	if f.RootHash != nil {
		h := hex.EncodeToString(f.RootHash)
		e.BlockHash = &h
	}
	if p.es != nil {
		ix := esout.BlocksIndexName(d.start())
		e.BlocksIndex = &ix
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("announce %s: %w", d.job.Rel(), err)
	}
	// The id names the file, so an event sent again (a crash between the
	// stream's acknowledgement and MarkAnnounced; another replica's
	// parse of the same file) is dropped by the stream.
	dup, err := p.bus.Announce(ctx, SubjectPrefix+d.job.Node, MsgID(p.cfg.Network, d.job), payload)
	if err != nil {
		return fmt.Errorf("announce %s: %w", d.job.Rel(), err)
	}
	faults.Point("after-publish")
	if dup {
		p.m.Duplicates.Inc()
	} else {
		p.m.Published.Inc()
	}
	// Only now, with the stream's acknowledgement, is the file announced.
	if err := p.st.MarkAnnounced(ctx, f.Name); err != nil {
		p.m.Failed.WithLabelValues("state").Inc()
		return err
	}
	return nil
}

// MsgID is the Nats-Msg-Id of a file's parsed event: network, day and
// file name, as the downloader names a file's events.
func MsgID(network string, job intake.Job) string { return network + "/" + job.Rel() }

// account updates the metrics for a file parsed.
func (p *Parser) account(d *decoded) {
	p.m.Files.WithLabelValues(fmt.Sprint(d.sum.version)).Inc()
	if d.sum.kind != state.KindRecord {
		p.m.Blocks.WithLabelValues(d.sum.kind, d.sum.algorithm).Inc()
	}
	for k, n := range d.counts {
		p.m.Transactions.WithLabelValues(k.name, k.result).Add(float64(n))
	}
	p.m.ParseErrors.Add(float64(d.parseErrors))
	p.m.parsedEnd(d.sum.end)
	if d.sum.number != nil {
		p.m.LastBlock.Set(float64(*d.sum.number))
	}
}

// Restore sets the position gauges from the state at start, so the
// dashboards and the stall alert see where the stream is before the
// first file of this process.
func (p *Parser) Restore(ctx context.Context) error {
	last, err := p.st.Last(ctx)
	if err != nil || last == nil {
		return err
	}
	p.m.parsedEnd(last.ConsensusEnd)
	if last.BlockNumber != nil {
		p.m.LastBlock.Set(float64(*last.BlockNumber))
	}
	return nil
}
