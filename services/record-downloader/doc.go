// Package recorddownloader will mirror Hedera record-stream files from a
// node's bucket (GCS, S3) into a local record directory, verified against
// their signature files, and announce each on hedera.records.downloaded.<node>.
// Its issue fills this module; until then it holds only its place in go.work.
package recorddownloader
