package archive

import (
	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the archiver's Prometheus series.
type Metrics struct {
	Messages   *prometheus.CounterVec // topic
	Duplicates *prometheus.CounterVec // topic
	Errors     *prometheus.CounterVec // kind: kafka, s3, postgres, nats
	Bytes      prometheus.Counter
	Lag        *prometheus.GaugeVec // topic, partition
	Segments   prometheus.Counter
	Topics     prometheus.Gauge
	LastStored prometheus.Gauge
}

// NewMetrics registers the archiver's series on srv.
func NewMetrics(srv *metrics.Server) *Metrics {
	return &Metrics{
		Messages:   srv.Counter("messages_total", "Messages archived, by topic.", "topic"),
		Duplicates: srv.Counter("duplicates_total", "Messages seen again (redelivery, cursor reset, resent _id) and not stored twice.", "topic"),
		Errors:     srv.Counter("errors_total", "Errors, by kind (kafka, s3, postgres, nats).", "kind"),
		Bytes:      srv.Counter("bytes_total", "Bytes of BSON written to S3.").WithLabelValues(),
		Lag:        srv.Gauge("lag", "Messages behind the partition's high watermark at the last fetch.", "topic", "partition"),
		Segments:   srv.Counter("segments_total", "Segment objects written (STORE_MODE=segment).").WithLabelValues(),
		Topics:     srv.Gauge("topics", "Topics being archived.").WithLabelValues(),
		LastStored: srv.Gauge("last_stored_timestamp_seconds", "Unix time of the last stored batch.").WithLabelValues(),
	}
}
