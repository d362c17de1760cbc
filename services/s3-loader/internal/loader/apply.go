package loader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// apply applies one file and logs as the original did.
func (l *Loader) apply(ctx context.Context, f source.File, tbl *target.Table, generation int, res *Result) error {
	start := time.Now()
	body, err := l.src.Open(ctx, f)
	if err != nil {
		if errors.Is(err, source.ErrCorrupt) {
			return fmt.Errorf("%s line 1: %w: %w", f.Key, target.ErrBadInput, err)
		}
		return fmt.Errorf("%s: open: %w", f.Key, err)
	}
	defer body.Close()
	d := &target.Delivery{Bucket: l.src.Bucket(), File: f, Table: tbl, Generation: generation}
	var lastBytes int64
	opts := target.Options{
		Settings:      l.cfg.Settings,
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
