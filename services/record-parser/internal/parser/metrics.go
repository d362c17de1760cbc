package parser

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the parser's, registered as tributary_record_parser_<name>:
// the dashboard and alert rules are written against these names.
type Metrics struct {
	Files        *prometheus.CounterVec // version
	Transactions *prometheus.CounterVec // type, result
	Parse        prometheus.Observer    // decode + encode of one file
	File         prometheus.Observer    // one file end to end
	DeadLetters  prometheus.Counter     //
	ChainBreaks  prometheus.Counter     //
	Halted       prometheus.Gauge       //
	Quarantined  *prometheus.CounterVec // reason
	LastBlock    prometheus.Gauge       //
	LastEnd      prometheus.Gauge       //
	Failed       *prometheus.CounterVec // stage
	Published    prometheus.Counter     //
	PublishFail  prometheus.Counter     //
	ParseErrors  prometheus.Counter     //
	ChainWaits   prometheus.Counter     //
	Heartbeats   prometheus.Counter     //
	Reparsed     prometheus.Counter     //
	Duplicates   prometheus.Counter     //
	StreamBytes  prometheus.Gauge       // the parsed stream's
	StreamLimit  prometheus.Gauge       //
	Blocks       *prometheus.CounterVec // kind, algorithm
	OutOfOrder   prometheus.Counter     //
	// MissingSidecars counts sidecars a wrapped record block's record file
	// lists whose contents the block does not carry.
	MissingSidecars prometheus.Counter
	lastEndNano     atomic.Int64
}

// NewMetrics registers the metrics on srv; a nil srv gives metrics
// registered nowhere (utilities, benchmarks).
func NewMetrics(srv *metrics.Server) *Metrics {
	if srv == nil {
		srv = metrics.New("record-parser")
	}
	m := &Metrics{
		Files:           srv.Counter("files_parsed_total", "Record files and blocks parsed and written to every output, by format version (2, 5, 6; 7 for a block).", "version"),
		Transactions:    srv.Counter("transactions_total", "Transactions written as documents, by type (CRYPTOTRANSFER, …; UNKNOWN when the body did not decode) and result (SUCCESS, …).", "type", "result"),
		Parse:           srv.Histogram("parse_seconds", "Decoding, checking and encoding one record file (with its sidecars), before any output.", []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}).WithLabelValues(),
		File:            srv.Histogram("file_seconds", "One record file end to end: read, decode, NDJSON, Elasticsearch, state, event.", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}).WithLabelValues(),
		DeadLetters:     srv.Counter("deadletter_total", "Documents Elasticsearch refused for good, written to DEADLETTER_DIR instead.").WithLabelValues(),
		ChainBreaks:     srv.Counter("chain_breaks_total", "Record files that do not continue the previous file of the stream (hash chain broken).").WithLabelValues(),
		Halted:          srv.Gauge("stream_halted", "1 while the stream is stopped at a chain break (ON_CHAIN_BREAK=stop) until `record-parser resume`.").WithLabelValues(),
		Quarantined:     srv.Counter("quarantined_total", "Record files and blocks refused and copied to QUARANTINE_DIR, by reason (truncated, malformed, bad_gzip, unsupported_version, hash_mismatch, sidecar_hash_mismatch, sidecar_malformed; blocks also too_large, misnamed, bad_proof).", "reason"),
		LastBlock:       srv.Gauge("last_block_number", "Block number of the newest record file (v6, or numbered after one) or block parsed.").WithLabelValues(),
		LastEnd:         srv.Gauge("last_consensus_end_seconds", "Consensus time of the last transaction of the newest record file parsed.").WithLabelValues(),
		Failed:          srv.Counter("files_failed_total", "Record files whose processing failed and will be tried again, by stage (read, sidecar, ndjson, elasticsearch, deadletter, state, publish, message).", "stage"),
		Published:       srv.Counter("events_published_total", "hedera.records.parsed events the parsed stream (PARSED_STREAM) acknowledged as stored.").WithLabelValues(),
		PublishFail:     srv.Counter("publish_failures_total", "hedera.records.parsed events the parsed stream did not acknowledge (sent again with the file's next delivery).").WithLabelValues(),
		Duplicates:      srv.Counter("events_duplicate_total", "hedera.records.parsed events the parsed stream acknowledged as a repeat of one it holds (same Nats-Msg-Id: sent again after a crash), not stored twice.").WithLabelValues(),
		ParseErrors:     srv.Counter("transaction_parse_errors_total", "Transactions whose body or record did not decode, written as documents with parse_error and the raw bytes.").WithLabelValues(),
		ChainWaits:      srv.Counter("chain_waits_total", "Times a record file was put back because the file before it was not recorded yet (another replica parsing it, or late); after CHAIN_WAIT it counts as a chain break.").WithLabelValues(),
		Heartbeats:      srv.Counter("heartbeats_total", "In-progress acknowledgements sent for files in hand, so that ACK_WAIT does not hand a file to another replica mid-work.").WithLabelValues(),
		Reparsed:        srv.Counter("reparsed_total", "Quarantined record files parsed after all (record-parser reparse, backfill --force) and recorded as parsed.").WithLabelValues(),
		StreamBytes:     srv.Gauge("parsed_stream_bytes", "Bytes the parsed stream (PARSED_STREAM) holds, as the server last reported (every 30 s).").WithLabelValues(),
		StreamLimit:     srv.Gauge("parsed_stream_limit_bytes", "The parsed stream's MaxBytes (PARSED_MAX_BYTES): past it the oldest events are discarded, and a subscriber that was away misses them.").WithLabelValues(),
		Blocks:          srv.Counter("blocks_parsed_total", "Blocks parsed and written to every output, by kind (block; wrapped: a wrapped record block, read as its record file) and the root-hash algorithm its version calls for (8-leaf, 16-leaf).", "kind", "algorithm"),
		MissingSidecars: srv.Counter("wrapped_sidecars_missing_total", "Sidecars a wrapped record block's record file lists but the block does not carry: their contract details are missing from the documents (the mirror node reads such blocks too).").WithLabelValues(),
		OutOfOrder:      srv.Counter("blocks_out_of_order_total", "Blocks whose transactions' consensus times do not rise through the block (indexed all the same, their range the least and greatest time; the mirror node reports it and goes on).").WithLabelValues(),
	}
	srv.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: srv.FullName("consensus_lag_seconds"),
		Help: "Wall clock minus the consensus end of the newest record file parsed (NaN before the first).",
	}, func() float64 {
		n := m.lastEndNano.Load()
		if n == 0 {
			return math.NaN()
		}
		return time.Since(time.Unix(0, n)).Seconds()
	}))
	return m
}

// parsedEnd records the consensus end of a file parsed, if newest.
func (m *Metrics) parsedEnd(ns int64) {
	for {
		old := m.lastEndNano.Load()
		if ns <= old {
			return
		}
		if m.lastEndNano.CompareAndSwap(old, ns) {
			m.LastEnd.Set(float64(ns) / 1e9)
			return
		}
	}
}
