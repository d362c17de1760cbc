package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the stages', registered as tributary_registry_processor_<name>
// (the poster registers its own); the dashboard and alert rules are written
// against these names.
type Metrics struct {
	EventsFound *prometheus.CounterVec   //
	CorpsQueued prometheus.Counter       //
	Corps       *prometheus.CounterVec   // outcome Y, N, S
	Generated   *prometheus.CounterVec   // type
	Duplicates  prometheus.Counter       //
	Stage       *prometheus.HistogramVec // stage
	Outstanding *prometheus.GaugeVec     // table
	Errors      *prometheus.GaugeVec     // table
	LastEvent   prometheus.Gauge         //
	Runs        *prometheus.CounterVec   // outcome
	Unconfirmed prometheus.Gauge         // credentials held as unconfirmed now
	FutureDated prometheus.Gauge         // queue rows waiting for a future effective date
	Paged       prometheus.Counter       // runs that touched more corps than CORPS_TOUCHED_PAGE
	Invalid     *prometheus.CounterVec   // table: source rows that cannot be used
}

// NewMetrics registers the metrics on srv; nil gives unregistered ones.
func NewMetrics(srv *metrics.Server) *Metrics {
	if srv == nil {
		srv = metrics.New("registry-processor")
	}
	m := &Metrics{
		EventsFound: srv.Counter("events_found_total", "Source events past the high-water mark found by runs (rows of the event table, not the advance in event ids)."),
		CorpsQueued: srv.Counter("corps_queued_total", "Corporations queued in event_by_corp_filing (by events found or initial-load).").WithLabelValues(),
		Corps:       srv.Counter("corps_processed_total", "Queued corporations processed, by outcome: Y (credentials generated), N (error, see process_msg), S (skipped, not in scope).", "outcome"),
		Generated:   srv.Counter("credentials_generated_total", "Credentials generated, by type (REG, REL, BNC, ADDR held back), before deduplication by hash.", "type"),
		Duplicates:  srv.Counter("credentials_duplicate_total", "Credentials generated whose hash credential_log already had (skipped, as the original does).").WithLabelValues(),
		Stage:       srv.Histogram("stage_seconds", "Duration of one stage of a run: find, process, post, initial-load.", []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600}, "stage"),
		Outstanding: srv.Gauge("outstanding", "Rows waiting (process_date null) per event-processor table, as `status` counts them.", "table"),
		Errors:      srv.Gauge("errors", "Rows with process_success N per event-processor table.", "table"),
		LastEvent:   srv.Gauge("last_event_id", "The high-water mark: the last source event id queued.").WithLabelValues(),
		Runs:        srv.Counter("runs_total", "Service runs (find, process, post), by outcome: success or failed.", "outcome"),
		Unconfirmed: srv.Gauge("unconfirmed", "Credentials held as unconfirmed: sent, never answered, so the controller may have issued them; not sent again until post --unconfirmed (or UNCONFIRMED_RESEND_AFTER).").WithLabelValues(),
		FutureDated: srv.Gauge("future_dated", "Queue rows waiting for a future effective date (released at the first of them).").WithLabelValues(),
		Paged:       srv.Counter("runs_paged_total", "Runs whose events touched more corps than CORPS_TOUCHED_PAGE (the original's limit): queued all the same, someone should look.").WithLabelValues(),
		Invalid:     srv.Counter("source_rows_invalid_total", "Source rows that cannot be used (a NULL where a value must be, an unknown code, a broken link), by table: the corp they belong to is marked N naming them; an event with no corp is not queued.", "table"),
	}
	m.EventsFound.WithLabelValues()
	return m
}

func (m *Metrics) stage(name string, start time.Time) {
	m.Stage.WithLabelValues(name).Observe(time.Since(start).Seconds())
}
