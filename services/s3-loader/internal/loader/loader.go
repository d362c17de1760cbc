// Package loader is the s3-loader's domain: one pass finds the delivery
// files not yet applied and applies each, in delivery order, as one
// transaction with its record and its notification.
package loader

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/runner"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// Config is what a pass needs to know; main fills it from the environment.
type Config struct {
	SchemaMap     map[string]string // DMS schema → PostgreSQL schema
	NullValue     string
	EventIDColumn string
	SkipBadFiles  bool // ON_BAD_FILE=skip
	DryRun        bool
	LateWindow    time.Duration // how far back to look for late CDC files
	ProgressEvery int64
	// Beat, when set, tells the health check the loader is alive: after
	// each delivery and at each progress line, so a long file is not
	// mistaken for a stuck loop.
	Beat func()
	// OutboxRetention is how long sent notifications stay in
	// loader_outbox (for an operator tracing what went out); older ones
	// are pruned, at most once per PruneEvery. 0 keeps them all.
	OutboxRetention time.Duration
	PruneEvery      time.Duration // 0: DefaultPruneEvery
}

func (l *Loader) beat() {
	if l.cfg.Beat != nil {
		l.cfg.Beat()
	}
}

// DefaultPruneEvery is how often sent notifications are pruned when
// Config.PruneEvery is unset: often enough that the table stays near its
// retention, rarely enough that the prune costs nothing to speak of.
const DefaultPruneEvery = time.Hour

// Loader applies deliveries from a source to a target.
type Loader struct {
	cfg       Config
	src       *source.Source
	tgt       *target.Target
	notify    func(*target.Delivery) (target.Notification, error)
	publisher *notify.Publisher
	log       *zap.Logger
	m         *Metrics
	// BeforeCommit, when set, runs just before each delivery commits.
	BeforeCommit func(*target.Delivery)

	now       func() time.Time // the clock prunes are spaced by (tests move it)
	lastPrune time.Time        // when the outbox was last pruned by this process
}

// New builds a Loader. builder and publisher may be nil (NOTIFICATIONS=false).
func New(cfg Config, src *source.Source, tgt *target.Target, builder *notify.Builder, publisher *notify.Publisher, log *zap.Logger, m *Metrics) *Loader {
	l := &Loader{cfg: cfg, src: src, tgt: tgt, publisher: publisher, log: log, m: m, now: time.Now}
	if builder != nil {
		l.notify = builder.Build
	}
	return l
}

// Result sums up a pass.
type Result struct {
	Applied, Skipped int
	Rows             int64
}

// Pass applies every pending delivery. A bad file stops its own table
// (or is recorded and passed over with SkipBadFiles); other tables go on.
// The returned error joins every table's failure.
func (l *Loader) Pass(ctx context.Context) (Result, error) {
	var res Result
	unlock, err := l.tgt.Lock(ctx, l.src.Bucket()+"/"+l.srcRoot())
	if err != nil {
		l.countError(err, "target")
		return res, fmt.Errorf("take the loader lock: %w", err)
	}
	defer unlock()
	l.prune(ctx)
	// Under the lock, so two replicas never send the same outbox row at
	// once (subscribers without JetStream deduplication would see it twice).
	l.flush(ctx)

	tables, badDirs, err := l.src.Tables(ctx)
	if err != nil {
		l.countError(err, "source")
		return res, fmt.Errorf("list tables in s3://%s/%s: %w", l.src.Bucket(), l.srcRoot(), err)
	}
	markers, err := l.tgt.Markers(ctx, l.src.Bucket(), tables)
	if err != nil {
		l.countError(err, "target")
		return res, err
	}
	var errs []error
	for _, d := range badDirs {
		l.m.Errors.WithLabelValues("bad_input").Inc()
		err := fmt.Errorf("s3://%s/%s: %w: folder is not <schema>/<table> with plain identifiers; its files are not loaded", l.src.Bucket(), d, target.ErrBadInput)
		l.log.Error("bad delivery folder", zap.Error(err))
		errs = append(errs, err)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].String() < tables[j].String() })
	var pending int
	oldest := time.Time{}
	for _, tb := range tables {
		if runner.Stopping(ctx) {
			break
		}
		n, old, err := l.table(ctx, tb, markers[tb], &res)
		pending += n
		if !old.IsZero() && (oldest.IsZero() || old.Before(oldest)) {
			oldest = old
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	l.m.Pending.Set(float64(pending - res.Applied - res.Skipped))
	if oldest.IsZero() || pending == res.Applied+res.Skipped {
		l.m.Lag.Set(0)
	} else {
		l.m.Lag.Set(time.Since(oldest).Seconds())
	}
	return res, errors.Join(errs...)
}

func (l *Loader) srcRoot() string { return l.src.Root() }

// table applies one table's pending files in order and reports how many
// it found and the time of the oldest CDC file among them.
func (l *Loader) table(ctx context.Context, tb source.Table, m source.Marker, res *Result) (int, time.Time, error) {
	log := l.log.With(zap.String("table", tb.String()))
	schema := tb.Schema
	if s, ok := l.cfg.SchemaMap[schema]; ok {
		schema = s
	}
	var done map[string]bool
	if m.LastCDCKey != "" {
		var err error
		if done, err = l.tgt.DoneSince(ctx, l.src.Bucket(), tb, m.LastCDCTime.Add(-l.cfg.LateWindow)); err != nil {
			l.countError(err, "target")
			return 0, time.Time{}, err
		}
	}
	files, keyErrs, err := l.src.Pending(ctx, tb, m, l.cfg.LateWindow, func(k string) bool { return done[k] })
	if err != nil {
		l.countError(err, "source")
		return 0, time.Time{}, fmt.Errorf("list %s: %w", tb, err)
	}
	for _, e := range keyErrs {
		// Not a DMS file name: nothing to apply, but say so once a pass.
		l.m.Errors.WithLabelValues("bad_input").Inc()
		log.Warn("ignoring object that is not a DMS file", zap.Error(e))
	}
	if len(files) == 0 {
		return 0, time.Time{}, nil
	}
	var oldest time.Time
	for _, f := range files {
		if f.Kind == source.CDC && (oldest.IsZero() || f.Time.Before(oldest)) {
			oldest = f.Time
		}
	}
	tbl, err := l.tgt.Describe(ctx, schema, tb.Table)
	if err != nil && !errors.Is(err, target.ErrUnknownTable) {
		l.countError(err, "target")
		return len(files), oldest, err
	}
	for _, f := range files {
		if runner.Stopping(ctx) {
			return len(files), oldest, nil
		}
		var ferr error
		switch {
		case tbl == nil:
			ferr = fmt.Errorf("%s: %w: %w", f.Key, target.ErrBadInput, err)
		case f.Kind == source.CDC && !m.LastCDCTime.IsZero() && f.Time.Before(m.LastCDCTime):
			ferr = fmt.Errorf("%s: %w: CDC file is stamped %s, older than %s already applied; refusing to apply changes out of order",
				f.Key, target.ErrBadInput, f.Time.Format(time.RFC3339Nano), m.LastCDCTime.Format(time.RFC3339Nano))
		case f.Kind == source.Load && !m.LastCDCTime.IsZero():
			// A snapshot taken before changes already applied would put
			// older rows back over newer ones.
			ferr = fmt.Errorf("%s: %w: full-load file found after changes up to %s were applied; refusing to put older rows over newer ones (to reload the table, see the runbook)",
				f.Key, target.ErrBadInput, m.LastCDCTime.Format(time.RFC3339Nano))
		default:
			ferr = l.apply(ctx, f, tbl, res)
		}
		l.beat()
		if ferr == nil {
			if f.Kind == source.CDC && !l.cfg.DryRun {
				m.LastCDCTime = f.Time
			}
			continue
		}
		if errors.Is(ferr, target.ErrBadInput) {
			l.m.Errors.WithLabelValues("bad_input").Inc()
			if l.cfg.SkipBadFiles && !l.cfg.DryRun {
				targetName := schema + "." + tb.Table
				if err := l.tgt.RecordSkipped(ctx, l.src.Bucket(), f, targetName, ferr.Error()); err != nil {
					l.countError(err, "target")
					return len(files), oldest, err
				}
				l.m.Deliveries.WithLabelValues("skipped").Inc()
				res.Skipped++
				log.Error("bad delivery skipped (ON_BAD_FILE=skip)", zap.String("key", f.Key), zap.Error(ferr))
				continue
			}
		} else if IsTimeout(ferr) {
			// Its transaction rolled back; the file is still pending, so
			// the next pass applies it once the database or the store
			// answers in time. The table waits meanwhile, keeping order.
			l.countError(ferr, "target")
			l.m.Deliveries.WithLabelValues("failed").Inc()
			ferr = fmt.Errorf("%w (%w: nothing of it was committed; the next pass retries it)", ferr, ErrTimeout)
			log.Error("delivery timed out", zap.String("key", f.Key), zap.Error(ferr))
			return len(files), oldest, ferr
		} else {
			l.countError(ferr, "target")
		}
		l.m.Deliveries.WithLabelValues("failed").Inc()
		log.Error("delivery failed; this table waits until it is fixed (or ON_BAD_FILE=skip)", zap.String("key", f.Key), zap.Error(ferr))
		return len(files), oldest, ferr
	}
	return len(files), oldest, nil
}

// apply applies one file and logs as the original did.
func (l *Loader) apply(ctx context.Context, f source.File, tbl *target.Table, res *Result) error {
	start := time.Now()
	body, err := l.src.Open(ctx, f)
	if err != nil {
		if errors.Is(err, source.ErrCorrupt) {
			return fmt.Errorf("%s line 1: %w: %w", f.Key, target.ErrBadInput, err)
		}
		return fmt.Errorf("%s: open: %w", f.Key, err)
	}
	defer body.Close()
	d := &target.Delivery{Bucket: l.src.Bucket(), File: f, Table: tbl}
	var lastBytes int64
	opts := target.Options{
		NullValue:     l.cfg.NullValue,
		EventIDColumn: l.cfg.EventIDColumn,
		DryRun:        l.cfg.DryRun,
		Notify:        l.notify,
		BeforeCommit:  l.BeforeCommit,
		ProgressEvery: l.cfg.ProgressEvery,
		Started: func(d *target.Delivery) {
			l.log.Info(fmt.Sprintf("Delivery %d: process %s (%s) into %s", d.ID, f.Key, mb(f.Size), tbl))
		},
		Progress: func(d *target.Delivery, rows, n int64) {
			l.m.Bytes.Add(float64(n - lastBytes))
			lastBytes = n
			// Like the original's "processed 10000/159967": the row total
			// is unknown while streaming, so the fraction is of the file.
			l.log.Info(fmt.Sprintf("Delivery %d: processed %d rows (%s of %s)", d.ID, rows, mb(body.Stored()), mb(f.Size)))
			l.beat()
		},
	}
	if err := l.tgt.Apply(ctx, d, body, opts); err != nil {
		return err
	}
	dur := time.Since(start)
	l.m.Duration.Observe(dur.Seconds())
	l.m.Bytes.Add(float64(d.Bytes - lastBytes))
	res.Rows += d.Rows
	entity := tbl.Name
	if l.cfg.DryRun {
		l.m.Deliveries.WithLabelValues("dry_run").Inc()
		l.log.Info(fmt.Sprintf("Delivery %d: %s (create: %d, amend: %d, remove: %d, missing: %d) — DRY_RUN, rolled back",
			d.ID, entity, d.Created, d.Amended, d.Removed, d.Missing))
		res.Applied++
		return nil
	}
	l.m.Deliveries.WithLabelValues("loaded").Inc()
	l.m.Rows.WithLabelValues(entity, "CREATE").Add(float64(d.Created))
	l.m.Rows.WithLabelValues(entity, "AMEND").Add(float64(d.Amended))
	l.m.Rows.WithLabelValues(entity, "REMOVE").Add(float64(d.Removed))
	l.m.Rows.WithLabelValues(entity, "MISSING").Add(float64(d.Missing))
	l.m.LastDelivery.SetToCurrentTime()
	l.log.Info(fmt.Sprintf("Delivery %d: %s (create: %d, amend: %d, remove: %d)", d.ID, entity, d.Created, d.Amended, d.Removed),
		zap.Int64("rows", d.Rows), zap.Int64("missing_deletes", d.Missing))
	l.log.Info(fmt.Sprintf("Delivery %d: processed (%s)", d.ID, dur.Round(time.Millisecond)),
		zap.Float64("rows_per_second", float64(d.Rows)/dur.Seconds()))
	res.Applied++
	l.flush(ctx)
	return nil
}

// flush publishes what the outbox holds; failures are counted and left
// for the next flush, never lost.
func (l *Loader) flush(ctx context.Context) {
	if l.publisher == nil || l.cfg.DryRun {
		return
	}
	if err := l.publisher.Flush(ctx); err != nil {
		l.countError(err, "notify")
		l.log.Warn("notifications wait in the outbox", zap.Error(err))
	}
}

// prune deletes sent notifications older than OutboxRetention, at most
// once per PruneEvery, so loader_outbox stays the size of its retention
// instead of growing by a row per delivery for ever. It runs under the
// loader lock, before the flush; a failure is counted and logged and the
// next pass tries again — it never stops loading.
func (l *Loader) prune(ctx context.Context) {
	if l.cfg.OutboxRetention <= 0 || l.cfg.DryRun {
		return
	}
	every := l.cfg.PruneEvery
	if every <= 0 {
		every = DefaultPruneEvery
	}
	now := l.now()
	if !l.lastPrune.IsZero() && now.Sub(l.lastPrune) < every {
		return
	}
	n, err := l.tgt.PruneOutbox(ctx, l.cfg.OutboxRetention)
	l.m.OutboxPruned.Add(float64(n))
	if err != nil {
		l.countError(err, "target")
		l.log.Warn("pruning sent notifications failed; the next pass tries again", zap.Int64("pruned", n), zap.Error(err))
		return
	}
	l.lastPrune = now
	if n > 0 {
		l.log.Info(fmt.Sprintf("Pruned %d sent notifications older than %s", n, l.cfg.OutboxRetention))
	}
}

// mb prints a size for log lines; small files in kB, so they do not all
// read "0.0 MB".
func mb(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
