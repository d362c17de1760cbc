// Package state is the parser's PostgreSQL state: which files of a
// network's stream (record files, and from the cutover on blocks) are done
// (parsed or quarantined), the chain check between them, the chain breaks
// seen and the halt an operator resumes.
//
// Several replicas share one JetStream consumer, so files of one stream
// are parsed by different processes and a little out of order. The state
// therefore lives in the database, and the verdict on a file's place in
// the chain is taken under a per-network advisory transaction lock, with
// its neighbours re-read inside it.
package state

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
)

// Outcomes of a recorded file.
const (
	Parsed      = "parsed"
	Quarantined = "quarantined"
)

// Kinds of file in the stream.
const (
	KindRecord  = "record"  // a record file
	KindBlock   = "block"   // a block (HIP-1056)
	KindWrapped = "wrapped" // a wrapped record block: a record file in a block
)

// Break policies: what the stream does after a break.
const (
	PolicyStop     = "stop"
	PolicyContinue = "continue"
)

// ErrRecorded says the file is already recorded with the same file hash:
// a redelivery of a file that is done.
var ErrRecorded = errors.New("file already recorded")

// NotChained is Revive's refusal: the file does not fit between its
// neighbours, so it is not the file whose place it would take.
type NotChained struct {
	File   string
	Breaks []Break
}

func (e *NotChained) Error() string {
	var parts []string
	for _, b := range e.Breaks {
		parts = append(parts, fmt.Sprintf("%s does not follow %s (%s: expected %x, found %x)", b.File, b.PrevFile, b.Why(), b.Expected, b.Found))
	}
	return fmt.Sprintf("%s does not fit the chain: %s", e.File, strings.Join(parts, "; "))
}

// File is one file of the stream as recorded: a record file or a block.
type File struct {
	Name    string
	Node    string
	Kind    string // KindRecord (or empty), KindBlock, KindWrapped
	Version int    // 2, 5, 6; 7 for a block
	// ConsensusStart and ConsensusEnd are ns since the epoch.
	ConsensusStart, ConsensusEnd int64
	Count                        int
	FileHash, PrevHash           []byte
	// ChainHash is what the next file must start from (RecordFile.ChainHash;
	// a block's root hash); nil for a quarantined file.
	ChainHash []byte
	// RootHash is a block's or a wrapped record block's root hash, which
	// the next block's footer names; nil for a record file.
	RootHash    []byte
	BlockNumber *int64
	Outcome     string // Parsed or Quarantined
	Reason      string
	Index       string // Elasticsearch index the documents went to
	NDJSON      string // path of the NDJSON output
	ParsedAt    time.Time
	Announced   bool
}

// Link is a file's place in the chain: its nearest parsed (not
// quarantined) neighbours by consensus start.
type Link struct {
	Prev *File // nearest parsed file before, nil if none
	Next *File // nearest parsed file after, nil if none
	// Existing is the row already recorded under the name when Record
	// returns ErrRecorded.
	Existing *File
	// Resolved are the breaks recording the file showed to be a missing
	// file (it filled the gap between the two); Lifted is the halt that
	// went with them, nil if none did.
	Resolved []Break
	Lifted   *Halt
}

// PrevOK says f starts from where Prev ends (or there is no Prev).
func (l Link) PrevOK(f *File) bool { return l.Prev == nil || Follows(l.Prev, f).OK }

// NextOK says Next starts from where f ends (or there is no Next).
func (l Link) NextOK(f *File) bool { return l.Next == nil || Follows(f, l.Next).OK }

// Verdict is whether a file follows the one before it, and if not, what
// the break is.
type Verdict struct {
	OK bool
	// Expected is what prev ends with (the hash f should start from),
	// Found what f starts from.
	Expected, Found []byte
	// Reason says what does not follow, empty when OK.
	Reason string
}

// Follows judges f against prev, the file before it:
//   - a record file (or wrapped record block) starts from the hash the
//     record file before it ends with (its file hash, or end running hash);
//   - a block's footer names the root hash of the block (or wrapped
//     record block) before it; a block right after a plain record file has
//     no hash to meet (the mirror node takes it on its number alone: the
//     record file's wrapped root hash is not known here);
//   - where both carry block numbers, f's is the next.
func Follows(prev, f *File) Verdict {
	v := Verdict{OK: true, Found: f.PrevHash, Expected: prev.ChainHash}
	if f.Kind == KindBlock {
		v.Expected = prev.RootHash
	}
	if v.Expected != nil || f.Kind != KindBlock {
		if !bytes.Equal(v.Expected, f.PrevHash) {
			v.OK, v.Reason = false, "previous hash"
			if f.Kind == KindBlock {
				v.Reason = "previous block root hash"
			}
			return v
		}
	}
	if prev.BlockNumber != nil && f.BlockNumber != nil && *f.BlockNumber != *prev.BlockNumber+1 {
		v.OK, v.Reason = false, fmt.Sprintf("block number %d after %d", *f.BlockNumber, *prev.BlockNumber)
	}
	return v
}

// Break is one chain break: File does not follow PrevFile (Follows).
// Expected is what PrevFile ends with, Found what File starts from.
type Break struct {
	File, PrevFile  string
	Expected, Found []byte
	// Reason says what does not follow ("previous hash", "block number 9
	// after 7"); empty for breaks recorded before it was kept.
	Reason string
	Policy string
	// Filled in when read back (Breaks, Resume).
	ID         int64
	DetectedAt time.Time
	AcceptedAt *time.Time
	AcceptedBy string
	// ResolvedBy names the file that later arrived between the two: they
	// were not adjacent, the break was a file not yet parsed. The pairs
	// that file forms are judged, and recorded, on their own.
	ResolvedBy string
}

// Why is the break's reason, "previous hash" when none was kept.
func (b Break) Why() string {
	if b.Reason == "" {
		return "previous hash"
	}
	return b.Reason
}

// Halt says the network's stream is stopped at File until a resume.
type Halt struct {
	File, Reason string
	Since        time.Time
	// Where File stands, for holding back the files from it on: its
	// consensus start (ns) and block number, nil when not known (a halt of
	// an earlier version: its file name says its time).
	ConsensusStart, BlockNumber *int64
}

// Store is the state of one network's stream.
type Store struct {
	// Policy (ON_CHAIN_BREAK: PolicyStop or PolicyContinue; empty is
	// stop) is what a break the store finds itself, under the lock, is
	// recorded with when the caller passed none for that pair.
	Policy string

	pool    *pgxpool.Pool
	network string
	timeout time.Duration
	lock    int64
}

// New returns the store of network's stream. timeout bounds every
// statement (and the wait for the network's lock).
func New(pool *pgxpool.Pool, network string, timeout time.Duration) *Store {
	return &Store{pool: pool, network: network, timeout: timeout, lock: pg.LockKey("record-parser state " + network)}
}

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// querier is what a pool and a transaction share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const fileCols = `name, node, version, consensus_start, consensus_end, count, file_hash, prev_hash,
	chain_hash, block_number, outcome, reason, index_name, ndjson, parsed_at, announced_at IS NOT NULL, kind, root_hash`

func scanFile(row pgx.Row) (*File, error) {
	f := &File{}
	err := row.Scan(&f.Name, &f.Node, &f.Version, &f.ConsensusStart, &f.ConsensusEnd, &f.Count,
		&f.FileHash, &f.PrevHash, &f.ChainHash, &f.BlockNumber, &f.Outcome, &f.Reason, &f.Index,
		&f.NDJSON, &f.ParsedAt, &f.Announced, &f.Kind, &f.RootHash)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// one runs a query expected to return at most one file: nil, nil if none.
func (s *Store) one(ctx context.Context, q querier, what, sql string, args ...any) (*File, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	f, err := scanFile(q.QueryRow(ctx, sql, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network %s: %s: %w", s.network, what, err)
	}
	return f, nil
}

// Lookup returns the recorded file name, nil, nil if it is not recorded.
func (s *Store) Lookup(ctx context.Context, name string) (*File, error) {
	return s.lookup(ctx, s.pool, name)
}

func (s *Store) lookup(ctx context.Context, q querier, name string) (*File, error) {
	return s.one(ctx, q, "look up "+name,
		`SELECT `+fileCols+` FROM parser_files WHERE network = $1 AND name = $2`, s.network, name)
}

// Neighbours returns f's nearest parsed files before and after it by
// consensus start (ties broken by name), f itself excluded.
func (s *Store) Neighbours(ctx context.Context, f *File) (Link, error) {
	return s.neighbours(ctx, s.pool, f)
}

func (s *Store) neighbours(ctx context.Context, q querier, f *File) (Link, error) {
	prev, err := s.one(ctx, q, "previous file of "+f.Name,
		`SELECT `+fileCols+` FROM parser_files
		 WHERE network = $1 AND outcome = 'parsed' AND (consensus_start, name) < ($2, $3)
		 ORDER BY consensus_start DESC, name DESC LIMIT 1`, s.network, f.ConsensusStart, f.Name)
	if err != nil {
		return Link{}, err
	}
	next, err := s.one(ctx, q, "next file of "+f.Name,
		`SELECT `+fileCols+` FROM parser_files
		 WHERE network = $1 AND outcome = 'parsed' AND (consensus_start, name) > ($2, $3)
		 ORDER BY consensus_start, name LIMIT 1`, s.network, f.ConsensusStart, f.Name)
	if err != nil {
		return Link{}, err
	}
	return Link{Prev: prev, Next: next}, nil
}

// Judge decides, under the network's lock and from the neighbours read
// inside it, which breaks recording f makes.
type Judge func(f *File, l Link) []Break

// Record inserts f and its breaks in one transaction under the network's
// advisory transaction lock, re-reading f's neighbours inside it and
// returning them: the final verdict is taken under the lock, so two
// replicas recording adjacent files at once never both miss a break.
//
// breaks are those the caller found (from Neighbours), with the policy it
// applies. Under the lock the chain is checked again on both sides of a
// parsed f: every break found then is recorded, with the policy of the
// caller's break for the same pair, else the store's Policy; a caller's break the fresh neighbours no longer
// show is dropped. A quarantined f takes no part in the chain: its breaks
// are ignored.
//
// A file already recorded under the name with the same file hash returns
// ErrRecorded and the row in Link.Existing; with another hash, an error
// naming both.
func (s *Store) Record(ctx context.Context, f *File, breaks []Break) (Link, error) {
	return s.RecordJudged(ctx, f, func(f *File, l Link) []Break { return Rejudge(f, l, breaks, s.Policy) })
}

// Rejudge is Record's judge: the breaks of f against l, with the policies
// of breaks, else fallback (see Record).
func Rejudge(f *File, l Link, breaks []Break, fallback string) []Break {
	if f.Outcome != Parsed {
		return nil
	}
	policy := func(file, prev string) string {
		for _, b := range breaks {
			if b.File == file && b.PrevFile == prev && b.Policy != "" {
				return b.Policy
			}
		}
		return fallback
	}
	var out []Break
	if l.Prev != nil {
		if v := Follows(l.Prev, f); !v.OK {
			out = append(out, Break{File: f.Name, PrevFile: l.Prev.Name, Expected: v.Expected,
				Found: v.Found, Reason: v.Reason, Policy: policy(f.Name, l.Prev.Name)})
		}
	}
	if l.Next != nil {
		if v := Follows(f, l.Next); !v.OK {
			out = append(out, Break{File: l.Next.Name, PrevFile: f.Name, Expected: v.Expected,
				Found: v.Found, Reason: v.Reason, Policy: policy(l.Next.Name, f.Name)})
		}
	}
	return out
}

// RecordJudged is Record with the caller's own judge, called under the
// lock with the fresh neighbours; the breaks it returns are recorded in
// the same transaction as f.
func (s *Store) RecordJudged(ctx context.Context, f *File, judge Judge) (Link, error) {
	return s.record(ctx, f, judge, false)
}

// Revive records f, a file recorded as quarantined, as parsed after all:
// the operator replaced the copy the parser refused and it decodes now.
// It must fit the chain on both sides — start from its parsed
// predecessor's chain hash and end where its parsed successor starts —
// or nothing changes and the error is a *NotChained. Reviving closes the
// gap the quarantine left: the breaks it explains are resolved, and a
// halt they caused is lifted (Link.Resolved, Link.Lifted). The row's
// reason keeps why it was quarantined; it is announced again from
// scratch.
func (s *Store) Revive(ctx context.Context, f *File) (Link, error) {
	return s.record(ctx, f, nil, true)
}

func (s *Store) record(ctx context.Context, f *File, judge Judge, revive bool) (Link, error) {
	if f.Outcome != Parsed && f.Outcome != Quarantined {
		return Link{}, fmt.Errorf("record %s: outcome %q is neither %q nor %q", f.Name, f.Outcome, Parsed, Quarantined)
	}
	if f.Kind == "" {
		f.Kind = KindRecord
	}
	if revive && f.Outcome != Parsed {
		return Link{}, fmt.Errorf("revive %s: outcome %q, want %q", f.Name, f.Outcome, Parsed)
	}
	what := "record " + f.Name
	if revive {
		what = "revive " + f.Name
	}
	var link Link
	err := s.inTx(ctx, what, func(tx pgx.Tx) error {
		if err := s.exec(ctx, tx, "SELECT pg_advisory_xact_lock($1)", s.lock); err != nil {
			return fmt.Errorf("lock the stream: %w", err)
		}
		old, err := s.lookup(ctx, tx, f.Name)
		if err != nil {
			return err
		}
		switch {
		case revive && old == nil:
			return errors.New("not recorded: only a file recorded as quarantined can be revived")
		case revive && old.Outcome != Quarantined:
			return fmt.Errorf("recorded as %s, not quarantined", old.Outcome)
		case old != nil && !revive:
			if bytes.Equal(old.FileHash, f.FileHash) {
				link = Link{Existing: old}
				return ErrRecorded
			}
			return fmt.Errorf("already recorded with file hash %x (%s), now %x", old.FileHash, old.Outcome, f.FileHash)
		}
		if link, err = s.neighbours(ctx, tx, f); err != nil {
			return err
		}
		chain := f.ChainHash
		if f.Outcome == Quarantined {
			chain = nil
		}
		if revive {
			br, err := s.reviveBreaks(ctx, tx, f, link)
			if err != nil {
				return err
			}
			if len(br) > 0 {
				return &NotChained{File: f.Name, Breaks: br}
			}
			reason := "re-parsed after quarantine: " + old.Reason
			if err := s.exec(ctx, tx, `UPDATE parser_files SET node = $3, version = $4, consensus_start = $5,
				consensus_end = $6, count = $7, file_hash = $8, prev_hash = $9, chain_hash = $10, block_number = $11,
				outcome = $12, reason = $13, index_name = $14, ndjson = $15, parsed_at = now(), announced_at = NULL,
				kind = $16, root_hash = $17
				WHERE network = $1 AND name = $2`,
				s.network, f.Name, f.Node, f.Version, f.ConsensusStart, f.ConsensusEnd, f.Count,
				f.FileHash, f.PrevHash, chain, f.BlockNumber, f.Outcome, reason, f.Index, f.NDJSON, f.Kind, f.RootHash); err != nil {
				return fmt.Errorf("update: %w", err)
			}
		} else if err := s.exec(ctx, tx, `INSERT INTO parser_files (network, name, node, version,
			consensus_start, consensus_end, count, file_hash, prev_hash, chain_hash, block_number,
			outcome, reason, index_name, ndjson, kind, root_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			s.network, f.Name, f.Node, f.Version, f.ConsensusStart, f.ConsensusEnd, f.Count,
			f.FileHash, f.PrevHash, chain, f.BlockNumber, f.Outcome, f.Reason, f.Index, f.NDJSON, f.Kind, f.RootHash); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		// The file is done: it waits for nothing any more.
		if err := s.exec(ctx, tx, `DELETE FROM parser_waits WHERE network = $1 AND name = $2`, s.network, f.Name); err != nil {
			return fmt.Errorf("clear its wait: %w", err)
		}
		if f.Outcome != Parsed {
			return nil
		}
		if judge != nil {
			for _, b := range judge(f, link) {
				if err := s.exec(ctx, tx, insertBreak, s.breakArgs(b)...); err != nil {
					return fmt.Errorf("insert break %s after %s: %w", b.File, b.PrevFile, err)
				}
			}
		}
		return s.resolve(ctx, tx, f, &link)
	})
	if errors.Is(err, ErrRecorded) {
		return link, ErrRecorded
	}
	if err != nil {
		return Link{}, err
	}
	return link, nil
}

// resolve marks the breaks recording f shows to have been a missing file,
// and lifts the halt they caused, inside Record's transaction:
//
//   - f lands between two files recorded as a break: they were not
//     adjacent after all (replicas run a little out of order, so a file
//     can be parsed before the one before it; a quarantined file left a
//     hole). The pairs f now forms were judged on their own.
//   - A file B broke against an earlier file but starts exactly where f
//     ends: f was the file missing before it. B need not be recorded
//     (under ON_CHAIN_BREAK=stop it was not: the stream halted at it).
//   - f itself broke against an earlier file than P, and follows P: P was
//     the missing file.
//
// When the halt's file has no open break left, the halt is lifted and
// every wait cleared: the files the halt held back start their CHAIN_WAIT
// afresh instead of being judged breaks at once.
func (s *Store) resolve(ctx context.Context, tx pgx.Tx, f *File, link *Link) error {
	if link.Prev == nil {
		return nil
	}
	var nextName string
	if link.Next != nil {
		nextName = link.Next.Name
	}
	qctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := tx.Query(qctx, `UPDATE parser_chain_breaks
		SET resolved_at = now(), resolved_by = CASE WHEN file = $2 THEN $3 ELSE $2 END
		WHERE network = $1 AND resolved_at IS NULL AND (
			(file = $4 AND prev_file = $3)
			OR ((found = $5 OR found = $7) AND file <> $2)
			OR (file = $2 AND prev_file <> $3 AND $6))
		RETURNING `+breakCols, s.network, f.Name, link.Prev.Name, nextName, f.ChainHash, link.PrevOK(f), f.RootHash)
	if err != nil {
		return fmt.Errorf("resolve breaks around %s: %w", f.Name, err)
	}
	if link.Resolved, err = scanBreaks(rows); err != nil {
		return fmt.Errorf("resolve breaks around %s: %w", f.Name, err)
	}
	if len(link.Resolved) == 0 {
		return nil
	}
	files := make([]string, 0, len(link.Resolved))
	for _, b := range link.Resolved {
		files = append(files, b.File)
	}
	h := &Halt{}
	err = tx.QueryRow(qctx, `DELETE FROM parser_halts h WHERE network = $1 AND file = ANY($2)
		AND NOT EXISTS (SELECT 1 FROM parser_chain_breaks b WHERE b.network = h.network AND b.file = h.file
			AND b.resolved_at IS NULL AND b.accepted_at IS NULL)
		RETURNING file, reason, since, consensus_start, block_number`, s.network, files).Scan(&h.File, &h.Reason, &h.Since, &h.ConsensusStart, &h.BlockNumber)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lift the halt: %w", err)
	}
	link.Lifted = h
	if err := s.exec(ctx, tx, `DELETE FROM parser_waits WHERE network = $1`, s.network); err != nil {
		return fmt.Errorf("clear the waits: %w", err)
	}
	return nil
}

// ReviveBreaks is what Revive would refuse f for, read outside the lock
// (a check before the outputs are written; Revive checks again under
// it): the sides on which f does not fit its parsed neighbours. A side
// with another quarantined file between f and the neighbour is not
// judged — that file's place is open still, and reviving it judges the
// pair — so adjacent quarantined files can be revived in any order.
func (s *Store) ReviveBreaks(ctx context.Context, f *File) ([]Break, error) {
	link, err := s.neighbours(ctx, s.pool, f)
	if err != nil {
		return nil, err
	}
	return s.reviveBreaks(ctx, s.pool, f, link)
}

func (s *Store) reviveBreaks(ctx context.Context, q querier, f *File, link Link) ([]Break, error) {
	if link.Prev != nil {
		open, err := s.quarantinedBetween(ctx, q, link.Prev, f)
		if err != nil {
			return nil, err
		}
		if open {
			link.Prev = nil
		}
	}
	if link.Next != nil {
		open, err := s.quarantinedBetween(ctx, q, f, link.Next)
		if err != nil {
			return nil, err
		}
		if open {
			link.Next = nil
		}
	}
	return Rejudge(f, link, nil, s.Policy), nil
}

// quarantinedBetween says whether a quarantined file lies strictly
// between a and b in the stream's order.
func (s *Store) quarantinedBetween(ctx context.Context, q querier, a, b *File) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var yes bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM parser_files WHERE network = $1 AND outcome = 'quarantined'
		AND (consensus_start, name) > ($2, $3) AND (consensus_start, name) < ($4, $5))`,
		s.network, a.ConsensusStart, a.Name, b.ConsensusStart, b.Name).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("network %s: quarantined files between %s and %s: %w", s.network, a.Name, b.Name, err)
	}
	return yes, nil
}

// Waited records a sighting of name, a file whose predecessor is not
// recorded yet and whose nearest recorded predecessor is behind, and
// returns how long it has been waiting: since the first sighting behind
// the same file, by the database's clock (replicas' clocks may differ).
// The wait starts again now when the file before it has moved on (the
// stream is catching up to it: files between were recorded), or when it
// was last seen more than restartAfter ago — nobody was looking at it
// (the stream was halted, the parsers stopped).
func (s *Store) Waited(ctx context.Context, name, behind string, restartAfter time.Duration) (time.Duration, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var secs float64
	err := s.pool.QueryRow(ctx, `INSERT INTO parser_waits (network, name, behind) VALUES ($1, $2, $4)
		ON CONFLICT (network, name) DO UPDATE SET
			first_seen = CASE WHEN parser_waits.last_seen < now() - make_interval(secs => $3::float8)
				OR parser_waits.behind <> excluded.behind
				THEN now() ELSE parser_waits.first_seen END,
			behind = excluded.behind,
			last_seen = now()
		RETURNING extract(epoch FROM now() - first_seen)::float8`, s.network, name, restartAfter.Seconds(), behind).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("network %s: wait of %s: %w", s.network, name, err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

func (s *Store) exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// inTx runs fn in a transaction; every statement in it has its own
// deadline, and begin and commit have theirs.
func (s *Store) inTx(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	bctx, cancel := s.ctx(ctx)
	tx, err := s.pool.Begin(bctx)
	cancel()
	if err != nil {
		return fmt.Errorf("network %s: %s: begin: %w", s.network, what, err)
	}
	defer func() {
		rctx, cancel := s.ctx(context.WithoutCancel(ctx))
		defer cancel()
		_ = tx.Rollback(rctx) // a no-op after Commit
	}()
	if err := fn(tx); err != nil {
		if errors.Is(err, ErrRecorded) {
			return err
		}
		return fmt.Errorf("network %s: %s: %w", s.network, what, err)
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := tx.Commit(cctx); err != nil {
		return fmt.Errorf("network %s: %s: commit: %w", s.network, what, err)
	}
	return nil
}

// AddBreak records a break without recording its file: under policy
// stop the file is not parsed, the stream halts at it (Halt), and once a
// resume accepted the break (BreakAccepted) the file is parsed when it
// comes again; its Record then finds the same pair already there,
// accepted. A pair already recorded is left as it is.
func (s *Store) AddBreak(ctx context.Context, b Break) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, insertBreak, s.breakArgs(b)...); err != nil {
		return fmt.Errorf("network %s: record break %s after %s: %w", s.network, b.File, b.PrevFile, err)
	}
	return nil
}

// insertBreak records a break. A pair seen before (a break accepted,
// then the same files again) keeps its first row and its acceptance.
const insertBreak = `INSERT INTO parser_chain_breaks
	(network, file, prev_file, expected, found, policy, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (network, file, prev_file) DO NOTHING`

func (s *Store) breakArgs(b Break) []any {
	p := b.Policy
	if p == "" {
		p = s.Policy
	}
	if p == "" {
		p = PolicyStop
	}
	return []any{s.network, b.File, b.PrevFile, b.Expected, b.Found, p, b.Reason}
}

// MarkAnnounced records that the parsed event of name went out.
func (s *Store) MarkAnnounced(ctx context.Context, name string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE parser_files SET announced_at = coalesce(announced_at, now())
		WHERE network = $1 AND name = $2`, s.network, name)
	if err != nil {
		return fmt.Errorf("network %s: mark %s announced: %w", s.network, name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("network %s: mark %s announced: not recorded", s.network, name)
	}
	return nil
}

// Numbered returns the parsed file with block number n, nil if none.
func (s *Store) Numbered(ctx context.Context, n int64) (*File, error) {
	return s.one(ctx, s.pool, fmt.Sprintf("file of block %d", n),
		`SELECT `+fileCols+` FROM parser_files WHERE network = $1 AND outcome = 'parsed' AND block_number = $2
		 ORDER BY consensus_start DESC, name DESC LIMIT 1`, s.network, n)
}

// Last returns the latest parsed file by consensus start, nil if none.
func (s *Store) Last(ctx context.Context) (*File, error) {
	return s.one(ctx, s.pool, "last parsed file",
		`SELECT `+fileCols+` FROM parser_files WHERE network = $1 AND outcome = 'parsed'
		 ORDER BY consensus_start DESC, name DESC LIMIT 1`, s.network)
}

// Halt stops the stream at f (not recorded: its name, consensus start and
// block number say where). A stream already halted keeps its first halt
// (the file it stopped at and since when).
func (s *Store) Halt(ctx context.Context, f *File, reason string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `INSERT INTO parser_halts (network, file, reason, consensus_start, block_number)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (network) DO NOTHING`, s.network, f.Name, reason, f.ConsensusStart, f.BlockNumber); err != nil {
		return fmt.Errorf("network %s: halt at %s: %w", s.network, f.Name, err)
	}
	return nil
}

// Halted returns the stream's halt, nil if it is running.
func (s *Store) Halted(ctx context.Context) (*Halt, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	h := &Halt{}
	err := s.pool.QueryRow(ctx, `SELECT file, reason, since, consensus_start, block_number FROM parser_halts WHERE network = $1`, s.network).
		Scan(&h.File, &h.Reason, &h.Since, &h.ConsensusStart, &h.BlockNumber)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network %s: read halt: %w", s.network, err)
	}
	return h, nil
}

const breakCols = `id, file, prev_file, expected, found, policy, detected_at, accepted_at,
	coalesce(accepted_by, ''), coalesce(resolved_by, ''), reason`

func scanBreaks(rows pgx.Rows) ([]Break, error) {
	defer rows.Close()
	var out []Break
	for rows.Next() {
		var b Break
		if err := rows.Scan(&b.ID, &b.File, &b.PrevFile, &b.Expected, &b.Found, &b.Policy,
			&b.DetectedAt, &b.AcceptedAt, &b.AcceptedBy, &b.ResolvedBy, &b.Reason); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Resume clears the halt and marks the open (neither accepted nor
// resolved) breaks of the network accepted by by, in one transaction; it
// returns the breaks it accepted.
func (s *Store) Resume(ctx context.Context, by string) ([]Break, error) {
	var accepted []Break
	err := s.inTx(ctx, "resume", func(tx pgx.Tx) error {
		if err := s.exec(ctx, tx, `DELETE FROM parser_halts WHERE network = $1`, s.network); err != nil {
			return fmt.Errorf("clear halt: %w", err)
		}
		// Time spent halted is not time waited: the files held back
		// start their CHAIN_WAIT afresh.
		if err := s.exec(ctx, tx, `DELETE FROM parser_waits WHERE network = $1`, s.network); err != nil {
			return fmt.Errorf("clear the waits: %w", err)
		}
		qctx, cancel := s.ctx(ctx)
		defer cancel()
		rows, err := tx.Query(qctx, `UPDATE parser_chain_breaks SET accepted_at = now(), accepted_by = $2
			WHERE network = $1 AND accepted_at IS NULL AND resolved_at IS NULL
			RETURNING `+breakCols, s.network, by)
		if err != nil {
			return fmt.Errorf("accept breaks: %w", err)
		}
		if accepted, err = scanBreaks(rows); err != nil {
			return fmt.Errorf("accept breaks: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no order; status and tests want detection order.
	slices.SortFunc(accepted, func(a, b Break) int { return cmp.Compare(a.ID, b.ID) })
	return accepted, nil
}

// BreakAccepted says whether a break at file (file did not follow its
// previous file) was accepted, so the file is parsed when it comes again.
func (s *Store) BreakAccepted(ctx context.Context, file string) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM parser_chain_breaks
		WHERE network = $1 AND file = $2 AND accepted_at IS NOT NULL)`, s.network, file).Scan(&ok); err != nil {
		return false, fmt.Errorf("network %s: is the break at %s accepted: %w", s.network, file, err)
	}
	return ok, nil
}

// Breaks returns every break of the network in the order seen.
func (s *Store) Breaks(ctx context.Context) ([]Break, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+breakCols+` FROM parser_chain_breaks WHERE network = $1 ORDER BY id`, s.network)
	if err != nil {
		return nil, fmt.Errorf("network %s: list breaks: %w", s.network, err)
	}
	out, err := scanBreaks(rows)
	if err != nil {
		return nil, fmt.Errorf("network %s: list breaks: %w", s.network, err)
	}
	return out, nil
}

// Check is the readiness ping: the parser's tables answer.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM parser_halts WHERE network = $1`, s.network).Scan(&n); err != nil {
		return fmt.Errorf("postgres state of %s: %w", s.network, err)
	}
	return nil
}
