// Package recordstream reads the files of a Hedera record stream the way the
// network's mirror node does: record files of versions 2, 5 and 6 (a v6 file
// usually gzipped as .rcd.gz), the signature file each node writes beside
// every record file, v6 sidecar files, and the address book whose RSA keys
// sign them.
//
// What a reader must produce, and the byte layouts, are settled by real
// node-signed files (the fixtures the tests read): where this package and
// those files disagree, this package is wrong.
//
// Reading checks everything a file can check about itself: lengths and
// markers, the stored end running hash against the one recomputed from the
// items, nothing left over at the end. What needs a second file is separate:
// Signature.Verify (a node's key), RecordFile.Matches (the signature's
// hashes), Follows (the previous file of the stream) and SidecarMeta.Check.
//
// Every error names the file and, for malformed bytes, the offset; errors
// wrap ErrTruncated, ErrMalformed, ErrUnsupportedVersion, ErrBadSignature,
// ErrHashMismatch or ErrChainBroken so a caller can count and quarantine by
// reason. No input makes a reader panic.
package recordstream
