package archive

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the archiver's Prometheus series.
type Metrics struct {
	Messages          *prometheus.CounterVec // topic
	Duplicates        *prometheus.CounterVec // topic
	SuspectIDs        *prometheus.CounterVec // topic, kind: reused, zero, malformed, extra
	TopicResets       *prometheus.CounterVec // topic
	LostMessages      *prometheus.CounterVec // topic
	Errors            *prometheus.CounterVec // kind: kafka, s3, postgres, nats, encode
	KafkaClientErrors prometheus.Counter
	Bytes             prometheus.Counter
	Lag               *prometheus.GaugeVec // topic, partition
	Segments          prometheus.Counter
	Topics            prometheus.Gauge
	LastStored        prometheus.Gauge
	Announcements     prometheus.Counter
	OutboxPending     prometheus.Gauge
}

// NewMetrics registers the archiver's series on srv.
func NewMetrics(srv *metrics.Server) *Metrics {
	return &Metrics{
		Messages:          srv.Counter("messages_total", "Messages archived, by topic.", "topic"),
		Duplicates:        srv.Counter("duplicates_total", "Messages seen again (redelivery, cursor reset, a resent _id with the same payload) and not stored twice.", "topic"),
		SuspectIDs:        srv.Counter("suspect_ids_total", "Messages stored whose _id header is suspect, by kind: reused (already archived with another payload), zero (all zeros), malformed (not 16 bytes; replaced), extra (a second _id; kept as _original_id).", "topic", "kind"),
		TopicResets:       srv.Counter("topic_resets_total", "Times a topic was found deleted and created again (or its log truncated) and was taken up under a new id from its start.", "topic"),
		LostMessages:      srv.Counter("lost_messages_total", "Offsets deleted by retention before they were archived (the consumer fell behind retention).", "topic"),
		Errors:            srv.Counter("errors_total", "Errors, by kind (kafka, s3, postgres, nats, encode).", "kind"),
		KafkaClientErrors: srv.Counter("kafka_client_errors_total", "Errors the Kafka client logged (reconnects, partitions read past their start or end, topics gone).").WithLabelValues(),
		Bytes:             srv.Counter("bytes_total", "Bytes of BSON written to S3.").WithLabelValues(),
		Lag:               srv.Gauge("lag", "Messages between the group's committed offset and the partition's end, at the last look (every TOPIC_REFRESH). Partitions of topics past METRIC_TOPICS are summed under topic \"_other\", partition \"all\".", "topic", "partition"),
		Segments:          srv.Counter("segments_total", "Segment objects written (STORE_MODE=segment).").WithLabelValues(),
		Topics:            srv.Gauge("topics", "Topics being archived.").WithLabelValues(),
		LastStored:        srv.Gauge("last_stored_timestamp_seconds", "Unix time of the last stored batch.").WithLabelValues(),
		Announcements:     srv.Counter("announcements_total", "archive.stored events JetStream acknowledged.").WithLabelValues(),
		OutboxPending:     srv.Gauge("outbox_pending", "Outbox entries (one per indexed batch or segment) whose archive.stored events JetStream has not acknowledged yet.").WithLabelValues(),
	}
}

// OtherTopics is the topic label of topics past the METRIC_TOPICS limit.
const OtherTopics = "_other"

// topicLabels bounds the topic label of per-topic series: the first
// limit topics the process archives get their own, the rest share
// OtherTopics, so a cluster of thousands of topics cannot blow up the
// series count.
type topicLabels struct {
	mu    sync.Mutex
	limit int // 0: no limit
	own   map[string]bool
}

func (l *topicLabels) label(topic string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.own[topic] {
		return topic
	}
	if l.limit > 0 && len(l.own) >= l.limit {
		return OtherTopics
	}
	if l.own == nil {
		l.own = map[string]bool{}
	}
	l.own[topic] = true
	return topic
}

// label is the topic label for topic's series.
func (a *Archiver) label(topic string) string { return a.labels.label(topic) }
