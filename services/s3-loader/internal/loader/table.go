package loader

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/runner"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

var (
	// ErrGap: a full-load file is missing from the sequence (LOAD00000003
	// absent, LOAD00000004 there). The table waits at the gap: applying
	// past it would lose the missing file's rows for good.
	ErrGap = errors.New("gap in the full-load files")
	// ErrReloaded: DMS wrote the table's full load again (a LOAD file
	// rewritten, or one appearing after changes were applied). The table
	// waits for `s3-loader reload` once DMS has finished.
	ErrReloaded = errors.New("DMS reloaded the table")
)

// tableOutcome is what one table came to in a round of a pass.
type tableOutcome struct {
	pending int       // files (and unplaceable keys) found and not applied
	oldest  time.Time // the oldest of them: a change file's stamp, else when it was stored
	applied int
	err     error // why the table stopped, if it did
}

// work is one table's files, sorted out.
type work struct {
	files    []source.File // to apply, in delivery order
	late     map[string]bool
	halt     []error  // reasons to apply nothing
	stopKeys []string // the keys behind them
	gapAt    int      // files[gapAt:] wait behind a gap (past the end: none)
	gapErr   error
	pending  int
	oldest   time.Time
}

// keep lists the keys a pass's own listing would not find again: late
// files stamped before since, and every key that stopped the table.
func (w *work) keep(since time.Time) []string {
	var keys []string
	for _, f := range w.files {
		if w.late[f.Key] && f.Time.Before(since) {
			keys = append(keys, f.Key)
		}
	}
	return append(keys, w.stopKeys...)
}

func (w *work) note(t time.Time) {
	w.pending++
	if !t.IsZero() && (w.oldest.IsZero() || t.Before(w.oldest)) {
		w.oldest = t
	}
}

// table lists one table's files, sorts out what to apply and applies it.
func (l *Loader) table(ctx context.Context, tb source.Table, st target.State, full bool, res *Result) tableOutcome {
	log := l.log.With(zap.String("table", tb.String()))
	w, err := l.survey(ctx, tb, st, full)
	if err != nil {
		return tableOutcome{err: err}
	}
	out := tableOutcome{pending: w.pending, oldest: w.oldest}
	if len(w.halt) > 0 {
		for _, e := range w.halt {
			l.m.Errors.WithLabelValues(kindOf(e)).Inc()
			log.Error("table stopped: nothing of it is applied until this is resolved", zap.Error(e))
		}
		out.err = errors.Join(w.halt...)
		return out
	}
	schema := tb.Schema
	if s, ok := l.cfg.SchemaMap[schema]; ok {
		schema = s
	}
	var tbl *target.Table
	var describeErr error
	if len(w.files) > 0 {
		tbl, describeErr = l.tgt.Describe(ctx, schema, tb.Table)
		if describeErr != nil && !errors.Is(describeErr, target.ErrUnknownTable) {
			l.countError(describeErr, "target")
			out.err = describeErr
			return out
		}
	}
	for i, f := range w.files {
		if runner.Stopping(ctx) {
			return out
		}
		if i == w.gapAt {
			l.m.Errors.WithLabelValues("gap").Inc()
			log.Error("full load stopped at a gap; the table waits for the missing file", zap.Error(w.gapErr))
			out.err = w.gapErr
			return out
		}
		var ferr error
		switch {
		case tbl == nil:
			ferr = fmt.Errorf("%s: %w: %w", f.Key, target.ErrBadInput, describeErr)
		case w.late[f.Key]:
			ferr = fmt.Errorf("%s: %w: CDC file is stamped %s, older than (or as old as) %s already applied (%s); refusing to apply changes out of order",
				f.Key, target.ErrBadInput, f.Time.Format(time.RFC3339Nano), st.LastCDCTime.Format(time.RFC3339Nano), st.LastCDCKey)
		default:
			ferr = l.apply(ctx, f, tbl, st.Generation, res)
		}
		l.beat()
		if ferr == nil {
			out.applied++
			out.pending--
			continue
		}
		switch {
		case errors.Is(ferr, target.ErrBadInput):
			l.m.Errors.WithLabelValues("bad_input").Inc()
			if l.cfg.SkipBadFiles && !l.cfg.DryRun {
				if err := l.tgt.RecordSkipped(ctx, l.src.Bucket(), f, st.Generation, schema+"."+tb.Table, ferr.Error()); err != nil {
					l.countError(err, "target")
					out.err = err
					return out
				}
				l.m.Deliveries.WithLabelValues("skipped").Inc()
				res.Skipped++
				out.applied++
				out.pending--
				log.Error("bad delivery skipped (ON_BAD_FILE=skip)", zap.String("key", f.Key), zap.Error(ferr))
				continue
			}
			log.Error("delivery failed; this table waits until it is fixed (or ON_BAD_FILE=skip)", zap.String("key", f.Key), zap.Error(ferr))
		case errors.Is(ferr, target.ErrWaitingForParent):
			// Not the file's fault: the rows it needs (or that need it)
			// come in another table's files. Nothing of it was applied.
			// Counted by the pass if the table still waits at its end.
			log.Info("delivery waits for another table's rows (foreign key); retried", zap.String("key", f.Key), zap.Error(ferr))
			out.err = ferr
			return out
		case IsTimeout(ferr):
			// Its transaction rolled back; the file is still pending, so
			// the next pass applies it once the database or the store
			// answers in time. The table waits meanwhile, keeping order.
			l.countError(ferr, "target")
			ferr = fmt.Errorf("%w (%w: nothing of it was committed; the next pass retries it)", ferr, ErrTimeout)
			log.Error("delivery timed out", zap.String("key", f.Key), zap.Error(ferr))
		default:
			l.countError(ferr, "target")
			log.Error("delivery failed; the next pass retries it", zap.String("key", f.Key), zap.Error(ferr))
		}
		l.m.Deliveries.WithLabelValues("failed").Inc()
		out.err = ferr
		return out
	}
	return out
}

// survey lists a table and sorts its files: applied, to apply, late, or
// a reason to stop. full lists the folder whole (the first pass of a
// table, and the periodic audit); otherwise only where new files can be.
func (l *Loader) survey(ctx context.Context, tb source.Table, st target.State, full bool) (*work, error) {
	bucket := l.src.Bucket()
	since := time.Time{}
	if st.LastCDCKey != "" {
		since = st.LastCDCTime.Add(-l.cfg.LateWindow)
	}
	if st.CDCFrom.After(since) {
		since = st.CDCFrom
	}
	var listing source.Listing
	var err error
	if full || since.IsZero() {
		full = true
		listing, err = l.src.Scan(ctx, tb)
	} else {
		folderSince := since
		if f, perr := source.ParseKey(l.src.Root(), st.LastCDCKey, l.src.Partition(), time.Time{}); perr == nil && f.Dated && f.Folder.Before(folderSince) {
			folderSince = f.Folder // DMS catching up writes into older date folders
		}
		listing, err = l.src.ScanNew(ctx, tb, source.Window{Since: since, FolderSince: folderSince})
	}
	if err == nil && !full {
		err = l.carry(ctx, tb, &listing)
	}
	if err != nil {
		l.countError(err, "source")
		return nil, err
	}

	w := &work{late: map[string]bool{}}
	var loads, changes []source.File
	var old []source.File // change files before the window: applied long ago, or late
	hasLoad := false
	for _, f := range listing.Files {
		hasLoad = hasLoad || f.Kind == source.Load
	}
	var appliedLoads map[int64]target.Applied
	if hasLoad || st.LastLoadSeq > 0 {
		if appliedLoads, err = l.tgt.AppliedLoads(ctx, bucket, tb, st.Generation); err != nil {
			l.countError(err, "target")
			return nil, err
		}
	}
	var appliedCDC map[string]target.Applied
	if st.LastCDCKey != "" {
		if appliedCDC, err = l.tgt.AppliedCDCSince(ctx, bucket, tb, st.Generation, since); err != nil {
			l.countError(err, "target")
			return nil, err
		}
	}
	until := l.now().Add(clockSkew)
	for _, f := range listing.Files {
		if f.Kind == source.Load {
			if a, ok := appliedLoads[f.Seq]; ok {
				if a.Key != f.Key || a.Size != f.Size || a.Version != f.Version() {
					w.halt = append(w.halt, fmt.Errorf("%s: %w: full-load file number %d was applied as %s (%d bytes, ETag %s) and is now %s (%d bytes, ETag %s); once DMS reports the table's reload complete, run `s3-loader reload %s`",
						f.Key, ErrReloaded, f.Seq, a.Key, a.Size, a.Version, f.Key, f.Size, f.Version(), tb))
					w.note(f.Modified)
				}
				continue
			}
			loads = append(loads, f)
			continue
		}
		switch {
		case f.Time.Before(st.CDCFrom):
			continue // the snapshot a reload replaced
		case f.Time.After(until):
			w.halt = append(w.halt, fmt.Errorf("%s: %w: stamped %s, later than now; the name's time zone is not the declared one (DMS_DATE_PARTITION_TIMEZONE)",
				f.Key, source.ErrUnplaceable, f.Time.Format(time.RFC3339)))
			w.note(f.Modified)
			continue
		}
		if a, ok := appliedCDC[f.Key]; ok {
			if a.Size != f.Size || a.Version != f.Version() {
				w.halt = append(w.halt, fmt.Errorf("%s: %w: change file applied with %d bytes (ETag %s) is now %d bytes (ETag %s): DMS wrote it again",
					f.Key, ErrReloaded, a.Size, a.Version, f.Size, f.Version()))
				w.note(f.Modified)
			}
			continue
		}
		if f.Time.Before(since) {
			old = append(old, f)
			continue
		}
		changes = append(changes, f)
	}
	if len(old) > 0 {
		keys := make([]string, len(old))
		for i, f := range old {
			keys[i] = f.Key
		}
		recorded, err := l.tgt.Recorded(ctx, bucket, keys, st.Generation)
		if err != nil {
			l.countError(err, "target")
			return nil, err
		}
		for _, f := range old {
			if !recorded[f.Key] {
				// Older than the lateness window and never applied: it
				// arrived after newer changes went in.
				w.late[f.Key] = true
				changes = append(changes, f)
			}
		}
	}
	if err := l.unplaced(ctx, listing.Unplaced, w); err != nil {
		return nil, err
	}

	// Full-load files in number order, from the one after the last
	// applied; a missing number stops the table there.
	next := st.LastLoadSeq + 1
	w.gapAt = -1
	for _, f := range loads {
		w.note(f.Modified)
		switch {
		case st.LastCDCKey != "":
			w.halt = append(w.halt, fmt.Errorf("%s: %w: a full-load file after changes up to %s were applied; its rows are older than those changes. Once DMS reports the table's reload complete, run `s3-loader reload %s`",
				f.Key, ErrReloaded, st.LastCDCTime.Format(time.RFC3339Nano), tb))
		case f.Seq < next && f.Seq > st.LastLoadSeq:
			w.halt = append(w.halt, fmt.Errorf("%s: %w: a second full-load file numbered %d", f.Key, source.ErrUnplaceable, f.Seq))
		case f.Seq < next:
			w.halt = append(w.halt, fmt.Errorf("%s: %w: full-load file number %d appeared after %s was applied",
				f.Key, ErrGap, f.Seq, source.LoadName(next-1)))
		case f.Seq > next && w.gapAt < 0:
			missing := source.LoadName(next)
			if f.Seq > next+1 {
				missing += "…" + source.LoadName(f.Seq-1)
			}
			w.gapErr = fmt.Errorf("%s: %w: %s missing before it (the full load is applied up to %s)", f.Key, ErrGap, missing, source.LoadName(next-1))
			w.gapAt = len(w.files)
		}
		w.files = append(w.files, f)
		next = f.Seq + 1
	}
	if w.gapAt < 0 {
		w.gapAt = len(w.files) + len(changes) + 1 // never reached
	}
	for _, f := range changes {
		if w.late[f.Key] || !f.Time.After(st.LastCDCTime) && f.Key != st.LastCDCKey && st.LastCDCKey != "" {
			w.late[f.Key] = true // stamped at or before the last change applied
		}
		w.note(f.Time)
	}
	sortFiles(changes)
	w.files = append(w.files, changes...)
	l.carried[tb] = w.keep(since)
	return w, nil
}

// carry adds to a pass's listing the keys the last whole listing found
// outside where a pass looks, those still there.
func (l *Loader) carry(ctx context.Context, tb source.Table, listing *source.Listing) error {
	keys := l.carried[tb]
	if len(keys) == 0 {
		return nil
	}
	again, err := l.src.Again(ctx, keys)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, f := range listing.Files {
		seen[f.Key] = true
	}
	for _, u := range listing.Unplaced {
		seen[u.Key] = true
	}
	for _, f := range again.Files {
		if !seen[f.Key] {
			listing.Files = append(listing.Files, f)
		}
	}
	for _, u := range again.Unplaced {
		if !seen[u.Key] {
			listing.Unplaced = append(listing.Unplaced, u)
		}
	}
	sortFiles(listing.Files)
	return nil
}

// unplaced turns keys no rule places into reasons to stop, unless they
// were applied under the layout of their day (a declared setting since
// changed).
func (l *Loader) unplaced(ctx context.Context, keys []source.Unplaced, w *work) error {
	if len(keys) == 0 {
		return nil
	}
	names := make([]string, len(keys))
	for i, u := range keys {
		names[i] = u.Key
	}
	recorded, err := l.tgt.Recorded(ctx, l.src.Bucket(), names, 0)
	if err != nil {
		l.countError(err, "target")
		return err
	}
	for _, u := range keys {
		if recorded[u.Key] {
			continue
		}
		err := u.Err
		if !errors.Is(err, source.ErrUnplaceable) {
			err = fmt.Errorf("%s: %w: %w", u.Key, source.ErrUnplaceable, err)
		}
		w.halt = append(w.halt, err)
		w.stopKeys = append(w.stopKeys, u.Key)
		w.note(u.Modified)
	}
	return nil
}

func sortFiles(files []source.File) {
	sort.SliceStable(files, func(i, j int) bool { return source.Before(files[i], files[j]) })
}

// kindOf is the errors_total kind of a reason a table stopped.
func kindOf(err error) string {
	switch {
	case errors.Is(err, source.ErrUnplaceable):
		return "unplaceable"
	case errors.Is(err, ErrReloaded):
		return "reload"
	case errors.Is(err, ErrGap):
		return "gap"
	default:
		return "unplaceable"
	}
}
