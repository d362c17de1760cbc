package blocknode

import (
	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the block node client's, registered as
// tributary_record_downloader_block_node_<name>.
type Metrics struct {
	Blocks       *prometheus.CounterVec // node
	Bytes        *prometheus.CounterVec // node
	Failures     *prometheus.CounterVec // node, kind
	BenchedUntil *prometheus.GaugeVec   // node
	Current      *prometheus.GaugeVec   // node
	GaveUp       prometheus.Counter
}

// NewMetrics registers the metrics on srv; a nil srv gives metrics
// registered nowhere (tests, utilities).
func NewMetrics(srv *metrics.Server) *Metrics {
	if srv == nil {
		srv = metrics.New("record-downloader")
	}
	return &Metrics{
		Blocks:       srv.Counter("block_node_blocks_total", "Complete blocks received from a block node and handed over for verification, by node.", "node"),
		Bytes:        srv.Counter("block_node_bytes_total", "Bytes of the complete blocks received from a block node, by node.", "node"),
		Failures:     srv.Counter("block_node_failures_total", "Failed block node attempts, by node (none: no node could serve the block) and kind: status (serverStatus failed), unavailable (no node holds the block), connect, stream (the connection broke), stall (no response within the stall timeout, or a block not finished within the block timeout), ended (the stream ended early), refused (a status code other than SUCCESS), protocol (items out of order, a wrong block number), too_large, bad_block (the block did not verify).", "node", "kind"),
		BenchedUntil: srv.Gauge("block_node_benched_until_timestamp_seconds", "Unix time until which a node is benched after repeated failures or a bad block (in the past: in service).", "node"),
		Current:      srv.Gauge("block_node_current", "1 for the block node being streamed from, 0 for the others.", "node"),
		GaveUp:       srv.Counter("block_node_gave_up_total", "Times the client gave up after consecutive failures across nodes (BLOCK_SOURCE=auto falls back to the buckets).").WithLabelValues(),
	}
}
