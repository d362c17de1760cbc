// Package loader is the s3-loader's domain: one pass finds the delivery
// files not yet applied and applies each, in delivery order, as one
// transaction with its record and its notification. A file it cannot
// place, a gap in a full load or a table DMS reloaded stops that table
// and says why; nothing is passed over while the position moves on.
package loader

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/runner"
	"tributary.dev/services/s3-loader/internal/dms"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// Config is what a pass needs to know; main fills it from the environment.
type Config struct {
	SchemaMap     map[string]string // DMS schema → PostgreSQL schema
	Settings      dms.Settings      // the DMS endpoint's, which shape the files
	EventIDColumn string
	SkipBadFiles  bool // ON_BAD_FILE=skip
	DryRun        bool
	LateWindow    time.Duration // how far back to look for late CDC files each pass
	// AuditEvery is how often a table folder is listed whole, to find
	// change files that arrived later than LateWindow and keys in places
	// the per-pass listing does not look. 0: every pass.
	AuditEvery    time.Duration
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

// clockSkew is how far in the future a change file may be stamped
// before it is taken for a misdeclared time zone.
const clockSkew = time.Hour

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

	now       func() time.Time // the clock prunes and audits are spaced by (tests move it)
	lastPrune time.Time        // when the outbox was last pruned by this process
	lastAudit time.Time        // when the table folders were last listed whole
	// carried are, per table, keys the last whole listing found outside
	// the places each pass looks — late files, keys the loader cannot
	// place — listed again every pass, so the table stays stopped on
	// them until they are dealt with, not only on audit passes.
	carried map[source.Table][]string
}

// New builds a Loader. builder and publisher may be nil (NOTIFICATIONS=false).
func New(cfg Config, src *source.Source, tgt *target.Target, builder *notify.Builder, publisher *notify.Publisher, log *zap.Logger, m *Metrics) *Loader {
	l := &Loader{cfg: cfg, src: src, tgt: tgt, publisher: publisher, log: log, m: m, now: time.Now, carried: map[source.Table][]string{}}
	if builder != nil {
		l.notify = builder.Build
	}
	return l
}

// Result sums up a pass.
type Result struct {
	Applied, Skipped int
	Rows             int64
	Halted           int // tables that stopped with an error
}

// Pass applies every pending delivery. A table that cannot go on stops
// (or, for bad contents with SkipBadFiles, records the file and goes on);
// other tables go on. Tables waiting for another table's rows (a foreign
// key) are tried again in the same pass while any table makes progress.
// The returned error joins every table's failure.
func (l *Loader) Pass(ctx context.Context) (Result, error) {
	var res Result
	unlock, err := l.tgt.Lock(ctx, l.src.Bucket()+"/"+l.src.Root())
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
		return res, fmt.Errorf("list tables in s3://%s/%s: %w", l.src.Bucket(), l.src.Root(), err)
	}
	var errs []error
	for _, d := range badDirs {
		l.m.Errors.WithLabelValues("bad_input").Inc()
		err := fmt.Errorf("s3://%s/%s: %w: folder is not <schema>/<table> with plain identifiers; its files are not loaded", l.src.Bucket(), d, target.ErrBadInput)
		l.log.Error("bad delivery folder", zap.Error(err))
		errs = append(errs, err)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].String() < tables[j].String() })
	audit := l.cfg.AuditEvery <= 0 || l.lastAudit.IsZero() || l.now().Sub(l.lastAudit) >= l.cfg.AuditEvery
	outcome := map[source.Table]tableOutcome{}
	todo := tables
	for round := 0; len(todo) > 0 && !runner.Stopping(ctx); round++ {
		states, err := l.tgt.States(ctx, l.src.Bucket(), todo)
		if err != nil {
			l.countError(err, "target")
			return res, err
		}
		progress := false
		var waiting []source.Table
		for _, tb := range todo {
			if runner.Stopping(ctx) {
				break
			}
			o := l.table(ctx, tb, states[tb], audit && round == 0, &res)
			outcome[tb] = o
			progress = progress || o.applied > 0
			if errors.Is(o.err, target.ErrWaitingForParent) {
				waiting = append(waiting, tb)
			}
		}
		if !progress {
			break
		}
		todo = waiting
	}
	if audit && !runner.Stopping(ctx) {
		l.lastAudit = l.now()
	}
	var pending int
	var oldest time.Time
	for _, tb := range tables {
		o := outcome[tb]
		pending += o.pending
		if !o.oldest.IsZero() && (oldest.IsZero() || o.oldest.Before(oldest)) {
			oldest = o.oldest
		}
		if o.err != nil {
			res.Halted++
			errs = append(errs, o.err)
			if errors.Is(o.err, target.ErrWaitingForParent) {
				// Still waiting when the pass ends (a wait resolved by a
				// later round of the same pass is routine, not an error).
				l.m.Errors.WithLabelValues("foreign_key").Inc()
				l.m.Deliveries.WithLabelValues("failed").Inc()
				l.log.Error("table waits for another table's rows (foreign key); the next pass retries it", zap.String("table", tb.String()), zap.Error(o.err))
			}
		}
	}
	l.m.Pending.Set(float64(pending))
	l.m.Halted.Set(float64(res.Halted))
	if oldest.IsZero() || pending == 0 {
		l.m.Lag.Set(0)
	} else {
		l.m.Lag.Set(max(0, l.now().Sub(oldest).Seconds()))
	}
	return res, errors.Join(errs...)
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
