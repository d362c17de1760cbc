package blocks

import (
	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// Metrics are the block stream's, registered as
// tributary_record_downloader_<name> beside the record stream's (whose
// errors_total and announced_total they share).
type Metrics struct {
	Blocks         *prometheus.CounterVec // source, verification, proof
	Bytes          prometheus.Counter
	Refused        *prometheus.CounterVec // reason, source
	SourceFailures *prometheus.CounterVec // source
	Switches       *prometheus.CounterVec // from, to
	Active         *prometheus.GaugeVec   // source
	LastBlock      prometheus.Gauge
	LastBlockTime  prometheus.Gauge
	BlockWait      *prometheus.GaugeVec // block
	Anchored       prometheus.Gauge
	CutoverBlock   prometheus.Gauge
	Cutovers       prometheus.Counter
	CutoverProbes  *prometheus.CounterVec // outcome
	CutoverWait    prometheus.Gauge
	Errors         *prometheus.CounterVec // op (shared)
	Announced      prometheus.Counter     // (shared)
}

// NewMetrics registers the block metrics on srv, sharing errors and
// announced with the record stream's; a nil srv gives metrics registered
// nowhere (tests).
func NewMetrics(srv *metrics.Server, errs *prometheus.CounterVec, announced prometheus.Counter) *Metrics {
	if srv == nil {
		srv = metrics.New("record-downloader")
	}
	if errs == nil {
		errs = srv.Counter("errors_total", "Failed operations.", "op")
	}
	if announced == nil {
		announced = srv.Counter("announced_total", "Events published.").WithLabelValues()
	}
	return &Metrics{
		Blocks:         srv.Counter("blocks_total", "Blocks written to the local record directory, by the source whose copy was written, how they were taken (confirmed: a second source gave the same root hash; chained: the next block names its root hash; rsa_signed: a wrapped record block the network's signatures agree on) and how far their proof verified (root_hash, tss_placeholder, tss_structure, tss_verified, rsa_signed).", "source", "verification", "proof"),
		Bytes:          srv.Counter("block_bytes_total", "Bytes of blocks written (zstd, as stored).").WithLabelValues(),
		Refused:        srv.Counter("blocks_refused_total", "Blocks not written because they did not verify, by reason (malformed, truncated, too_large, misnamed, unsupported, chain_broken, hash_mismatch, proof, disagreement) and source; each is in DEST_DIR/_quarantine/blocks.", "reason", "source"),
		SourceFailures: srv.Counter("block_source_failures_total", "Runs of a block source that failed (unreachable, a stream cut or stalled, a block refused), by source.", "source"),
		Switches:       srv.Counter("block_source_switches_total", "Switches of the block source in use after consecutive failures (BLOCK_SOURCE=auto), by source left and source taken.", "from", "to"),
		Active:         srv.Gauge("block_source_active", "1 for the block source in use, 0 for the others.", "source"),
		LastBlock:      srv.Gauge("last_block_number", "Number of the newest block written by the live block stream.").WithLabelValues(),
		LastBlockTime:  srv.Gauge("last_block_timestamp_seconds", "Block timestamp of the newest block written by the live block stream.").WithLabelValues(),
		BlockWait:      srv.Gauge("block_wait_since_timestamp_seconds", "Set while the live block stream is held at a block that was refused; the label names the block, the value is when the wait began.", "block"),
		Anchored:       srv.Gauge("block_chain_anchored", "1 when the live block chain starts at the anchor checked at the cutover, 0 when it started unanchored (START_BLOCK).").WithLabelValues(),
		CutoverBlock:   srv.Gauge("cutover_block", "The first block after the record-stream cutover (0 before the cutover).").WithLabelValues(),
		Cutovers:       srv.Counter("cutovers_total", "Switches from the record stream to the block stream.").WithLabelValues(),
		CutoverProbes:  srv.Counter("cutover_probes_total", "Looks for the block after the last record file, by outcome (no_block, anchored, not_anchored, no_wrapped_block, wrapped_mismatch, error).", "outcome"),
		CutoverWait:    srv.Gauge("cutover_wait_since_timestamp_seconds", "Set while the record stream has stopped, the block after its last file exists, and the cutover cannot be made (the block does not chain on the last file's wrapped record block, or that block is nowhere): since when; 0 otherwise.").WithLabelValues(),
		Errors:         errs,
		Announced:      announced,
	}
}

// active marks name as the source in use.
func (m *Metrics) active(name string, all []blocksrc.Source) {
	for _, s := range all {
		v := 0.0
		if s.Name() == name {
			v = 1
		}
		m.Active.WithLabelValues(s.Name()).Set(v)
	}
}
