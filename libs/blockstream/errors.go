package blockstream

import (
	"errors"
	"fmt"
)

// Reasons a block is refused. Every error this package returns wraps
// exactly one of them (and, for the record file inside a wrapped record
// block, the recordstream error that found the fault), so a caller can count and quarantine by reason.
var (
	// ErrTruncated: the bytes end inside a field, or a compressed stream
	// ends early.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed: bytes that are not a block: a bad wire type, an item
	// with no field or two, items out of place (no header first, items
	// after the footer, a transaction outside an event).
	ErrMalformed = errors.New("malformed")
	// ErrTooLarge: more items or bytes than the per-block limits allow;
	// found before the memory for them is taken.
	ErrTooLarge = errors.New("over the block limits")
	// ErrUnsupported: a block this package cannot verify: a pre-release
	// layout (HAPI before 0.71), a hash algorithm other than SHA-384, a
	// filtered or redacted item, an unknown item number below 20.
	ErrUnsupported = errors.New("unsupported")
	// ErrMisnamed: the block number in the object name is not the header's.
	ErrMisnamed = errors.New("name does not match the block")
	// ErrHashMismatch: a hash differs from the one it must equal (a state
	// proof's starting hash, a sidecar's, a wrapped record file's running
	// hash).
	ErrHashMismatch = errors.New("hash mismatch")
	// ErrChainBroken: a block does not follow the previous one: its number
	// is not the next, or its footer's previous hash is not the previous
	// block's root hash.
	ErrChainBroken = errors.New("chain broken")
	// ErrProof: a block's proof is missing, of the wrong kind, or does not
	// verify as far as it can be verified.
	ErrProof = errors.New("proof does not verify")
)

// Error is a refused block: which one, where, and why.
type Error struct {
	// Name is the object or file name the caller gave.
	Name string
	// Number is the block number from the header, or from the name when
	// the header was not read; -1 when neither is known.
	Number int64
	// Item is the index of the offending item, -1 for the block as a whole.
	Item int
	// Offset is the byte offset in the decompressed block, -1 when not
	// about particular bytes.
	Offset int64
	What   string
	Reason error
	// Cause is the underlying error where another package found the
	// problem (recordstream, for a wrapped record file); errors.Is sees
	// both it and Reason.
	Cause error
}

func (e *Error) Error() string {
	where := e.Name
	if e.Number >= 0 {
		where = fmt.Sprintf("%s (block %d)", e.Name, e.Number)
	}
	if e.Item >= 0 {
		where += fmt.Sprintf(" item %d", e.Item)
	}
	if e.Offset >= 0 {
		where += fmt.Sprintf(" byte %d", e.Offset)
	}
	return fmt.Sprintf("%s: %s: %v", where, e.What, e.Reason)
}

func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Reason, e.Cause}
	}
	return []error{e.Reason}
}

// blockErr makes an Error about a whole block.
func blockErr(name string, number int64, reason error, format string, args ...any) *Error {
	return &Error{Name: name, Number: number, Item: -1, Offset: -1, What: fmt.Sprintf(format, args...), Reason: reason}
}
