package poster

import (
	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the poster's Prometheus series, all under
// tributary_registry_processor_.
type Metrics struct {
	Posted      *prometheus.CounterVec   // posted_total{outcome}: success, failed, deferred
	Requests    *prometheus.CounterVec   // post_requests_total{status}: HTTP code, timeout, error, bad_answer
	Retries     prometheus.Counter       // post_retries_total: requests sent again after they never reached the controller
	Unconfirmed prometheus.Counter       // post_unconfirmed_total: requests sent and never answered
	Held        *prometheus.CounterVec   // post_held_total{cause}: credentials held as unconfirmed
	Resent      prometheus.Counter       // post_resent_total: held credentials sent again
	Seconds     *prometheus.HistogramVec // post_seconds: one POST, sent to answered or given up
	Concurrency prometheus.Gauge         // post_concurrency: requests allowed in flight now
	InFlight    prometheus.Gauge         // post_in_flight: requests in flight now
	ErrorFactor prometheus.Gauge         // post_error_factor: the adaptive back-off's progressive error count
	Ready       prometheus.Gauge         // controller_ready: 1 when the last readiness probe answered 200
}

// NewMetrics registers the metrics on srv; a nil srv gives metrics on a
// private registry (tests, verbs without a metrics server).
func NewMetrics(srv *metrics.Server) *Metrics {
	if srv == nil {
		srv = metrics.New("registry-processor")
	}
	m := &Metrics{
		Posted:      srv.Counter("posted_total", "Credentials written back after posting, by outcome: success (Y), failed (N), deferred (left queued because the controller was not ready).", "outcome"),
		Requests:    srv.Counter("post_requests_total", "issue-credential requests by answer: the HTTP status, timeout, error (connection), bad_answer (200 of the wrong length or shape).", "status"),
		Retries:     srv.Counter("post_retries_total", "issue-credential requests sent again because the first attempt never reached the controller (connection refused, 503 or 429 before it read the request).").WithLabelValues(),
		Unconfirmed: srv.Counter("post_unconfirmed_total", "issue-credential requests sent and never answered (timeout, connection lost after sending, a 5xx other than 503/429): their credentials are held as unconfirmed, not sent again by themselves.").WithLabelValues(),
		Held:        srv.Counter("post_held_total", "Credentials held as unconfirmed, by cause: timeout, connection (lost after sending), status (5xx after sending), shutdown (in flight when SHUTDOWN_GRACE ran out), orphaned (claimed by a process that stopped).", "cause"),
		Resent:      srv.Counter("post_resent_total", "Credentials held as unconfirmed that were sent again (post --unconfirmed, or UNCONFIRMED_RESEND_AFTER): each may now be issued twice.").WithLabelValues(),
		Seconds:     srv.Histogram("post_seconds", "Time of one issue-credential request.", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}),
		Concurrency: srv.Gauge("post_concurrency", "issue-credential requests allowed in flight (the adaptive back-off's current limit).").WithLabelValues(),
		InFlight:    srv.Gauge("post_in_flight", "issue-credential requests in flight.").WithLabelValues(),
		ErrorFactor: srv.Gauge("post_error_factor", "The adaptive back-off's progressive error count: max(0, previous + 5 x failures - successes); above 50 concurrency drops.").WithLabelValues(),
		Ready:       srv.Gauge("controller_ready", "1 when the controller's last readiness probe answered 200, else 0.").WithLabelValues(),
	}
	// Exported from the start, so the latency panels and alerts have a
	// series before the first request.
	m.Seconds.WithLabelValues()
	for _, cause := range []string{"timeout", "connection", "status", "shutdown", "orphaned"} {
		m.Held.WithLabelValues(cause)
	}
	return m
}
