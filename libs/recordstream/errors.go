package recordstream

import (
	"errors"
	"fmt"
)

// Reasons a file is refused. Errors returned by this package wrap exactly
// one of them.
var (
	// ErrTruncated: the bytes end before the layout does.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed: a marker, length, class id or protobuf field is not
	// what the format allows, or the file carries bytes after its end.
	ErrMalformed = errors.New("malformed")
	// ErrUnsupportedVersion: the version number is not one we read.
	ErrUnsupportedVersion = errors.New("unsupported version")
	// ErrBadSignature: an RSA signature does not verify with the key.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrHashMismatch: a hash differs from the one it must equal (a
	// signature's, a record file's sidecar list, a stored running hash).
	ErrHashMismatch = errors.New("hash mismatch")
	// ErrChainBroken: a file does not continue the previous one.
	ErrChainBroken = errors.New("chain broken")
)

// FormatError is malformed or truncated input, with where it was found.
type FormatError struct {
	File   string // the name the caller gave
	Offset int64  // byte offset; in the decompressed bytes for a .gz file
	What   string // what was being read, and what was wrong
	Reason error  // ErrTruncated, ErrMalformed or ErrUnsupportedVersion
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: byte %d: %s: %v", e.File, e.Offset, e.What, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Reason }
