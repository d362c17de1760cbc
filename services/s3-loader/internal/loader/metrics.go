package loader

import (
	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the loader's Prometheus series.
type Metrics struct {
	Deliveries   *prometheus.CounterVec // result: loaded, skipped, failed, dry_run
	Rows         *prometheus.CounterVec // entity, op: CREATE, AMEND, REMOVE, MISSING
	Errors       *prometheus.CounterVec // kind: bad_input, unplaceable, gap, reload, foreign_key, source, target, notify, timeout
	Bytes        prometheus.Counter
	LastDelivery prometheus.Gauge
	Lag          prometheus.Gauge
	Pending      prometheus.Gauge
	Halted       prometheus.Gauge
	Notified     *prometheus.CounterVec // result: sent, failed
	OutboxPruned prometheus.Counter
	Duration     prometheus.Observer
}

// NewMetrics registers the loader's series on srv.
func NewMetrics(srv *metrics.Server) *Metrics {
	return &Metrics{
		Deliveries:   srv.Counter("deliveries_total", "Delivery files handled, by result.", "result"),
		Rows:         srv.Counter("rows_total", "Rows changed, by entity and op (CREATE, AMEND, REMOVE; MISSING for deletes of absent keys).", "entity", "op"),
		Errors:       srv.Counter("errors_total", "Errors, by kind: bad_input (a file's contents, or a late file), unplaceable (a key no rule places), gap (a full-load file missing), reload (DMS wrote a table's full load again), foreign_key (a table waiting for another's rows), source, target, notify, timeout (a statement or object-store call past its deadline).", "kind"),
		Bytes:        srv.Counter("bytes_total", "Bytes of delivery files read (decompressed).").WithLabelValues(),
		LastDelivery: srv.Gauge("last_delivery_timestamp_seconds", "Unix time the last delivery committed.").WithLabelValues(),
		Lag:          srv.Gauge("lag_seconds", "Age of the oldest pending file at the last pass: a change file's stamp, else when it was stored (0 when caught up).").WithLabelValues(),
		Pending:      srv.Gauge("pending_files", "Delivery files (and keys the loader cannot place) found but not applied at the last pass.").WithLabelValues(),
		Halted:       srv.Gauge("halted_tables", "Tables stopped with an error at the last pass (the log and errors_total say why).").WithLabelValues(),
		Notified:     srv.Counter("notifications_total", "Notifications published, by result.", "result"),
		OutboxPruned: srv.Counter("outbox_pruned_total", "Sent notifications deleted from loader_outbox after OUTBOX_RETENTION.").WithLabelValues(),
		Duration:     srv.Histogram("delivery_duration_seconds", "Time to apply one delivery.", []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}).WithLabelValues(),
	}
}
