package recordstream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// cursor walks a file's bytes in the stream formats' big-endian layout and
// turns every short read into a FormatError at the offset where it began.
// Slices it returns alias the buffer: items stay sub-slices of the file
// rather than copies, which is most of what makes reading cheap.
type cursor struct {
	file string
	buf  []byte
	off  int
}

func (c *cursor) fail(off int, reason error, format string, args ...any) error {
	return &FormatError{File: c.file, Offset: int64(off), What: fmt.Sprintf(format, args...), Reason: reason}
}

func (c *cursor) left() int { return len(c.buf) - c.off }

func (c *cursor) take(n int, what string) ([]byte, error) {
	if n < 0 || n > c.left() {
		return nil, c.fail(c.off, ErrTruncated, "%s: need %d bytes, %d left", what, n, c.left())
	}
	b := c.buf[c.off : c.off+n : c.off+n]
	c.off += n
	return b, nil
}

func (c *cursor) u8(what string) (byte, error) {
	b, err := c.take(1, what)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (c *cursor) i32(what string) (int32, error) {
	b, err := c.take(4, what)
	if err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

func (c *cursor) i64(what string) (int64, error) {
	b, err := c.take(8, what)
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// peek64 reads the next 8 bytes without moving; ok is false near the end.
func (c *cursor) peek64() (v uint64, ok bool) {
	if c.left() < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(c.buf[c.off:]), true
}

// expect32 reads an int32 that must have one value.
func (c *cursor) expect32(want int32, what string) error {
	at := c.off
	v, err := c.i32(what)
	if err != nil {
		return err
	}
	if v != want {
		return c.fail(at, ErrMalformed, "%s: want %d, got %d", what, want, v)
	}
	return nil
}

// expect64 reads an int64 that must have one value (a class id).
func (c *cursor) expect64(want uint64, what string) error {
	at := c.off
	v, err := c.i64(what)
	if err != nil {
		return err
	}
	if uint64(v) != want {
		return c.fail(at, ErrMalformed, "%s: want %#x, got %#x", what, want, uint64(v))
	}
	return nil
}

// lengthAndBytes reads an int32 length in [min, left] and that many bytes.
func (c *cursor) lengthAndBytes(min int, what string) ([]byte, error) {
	at := c.off
	n, err := c.i32(what + " length")
	if err != nil {
		return nil, err
	}
	if int(n) < min {
		return nil, c.fail(at, ErrMalformed, "%s length %d, want at least %d", what, n, min)
	}
	return c.take(int(n), what)
}

// end fails unless every byte was read.
func (c *cursor) end(what string) error {
	if c.left() != 0 {
		return c.fail(c.off, ErrMalformed, "%d bytes after the end of the %s", c.left(), what)
	}
	return nil
}

// atItem says which item a FormatError was found in. Items are described
// only once something is wrong: formatting a description per item would
// cost more than reading it.
func atItem(err error, i int) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		fe.What = fmt.Sprintf("item %d: %s", i, fe.What)
	}
	return err
}
