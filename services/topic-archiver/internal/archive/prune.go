package archive

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// pruneErrors deletes archive_errors rows older than ErrorRetention, at
// most once per PruneEvery. It is housekeeping: a failure is logged and
// counted, and tried again an interval later rather than at every batch.
func (a *Archiver) pruneErrors(ctx context.Context, now time.Time) {
	if a.ix == nil || !a.pruned.IsZero() && now.Sub(a.pruned) < a.cfg.PruneEvery {
		return
	}
	a.pruned = now
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := a.ix.PruneErrors(pctx, now.Add(-a.cfg.ErrorRetention))
	if err != nil {
		a.m.Errors.WithLabelValues("postgres").Inc()
		a.log.Warn("prune old errors", zap.Error(err))
		return
	}
	if n > 0 {
		a.log.Info("pruned old errors", zap.Int64("rows", n), zap.Duration("retention", a.cfg.ErrorRetention))
	}
}
