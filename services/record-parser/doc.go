// Package recordparser will decode record-stream files (v2, v5, v6), check
// the hash chain and ship every transaction to Elasticsearch and NDJSON,
// announcing each file on hedera.records.parsed.<node>. Its issue fills
// this module; until then it holds only its place in go.work.
package recordparser
