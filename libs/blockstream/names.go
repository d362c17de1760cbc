package blockstream

import (
	"fmt"
	"strconv"
	"strings"
)

// Compression is how a block file is stored.
type Compression uint8

const (
	// Plain: ".blk", the serialized Block (block nodes' files).
	Plain Compression = iota
	// Gzip: ".blk.gz" (pre-release streams and some tools).
	Gzip
	// Zstd: ".blk.zstd", what the block-stream buckets hold.
	Zstd
)

var extensions = [...]string{Plain: ".blk", Gzip: ".blk.gz", Zstd: ".blk.zstd"}

func (c Compression) String() string {
	if int(c) < len(extensions) {
		return extensions[c]
	}
	return fmt.Sprintf("compression(%d)", c)
}

// numberDigits is the width of a block number in object names.
const numberDigits = 19

// FileName is block n's file name: the number left-padded with zeros to 19
// digits and the extension, e.g. 0000000000000000007.blk.zstd.
func FileName(n uint64, c Compression) string {
	return fmt.Sprintf("%0*d%s", numberDigits, n, c)
}

// ObjectPath is block n's path below a bucket's <network>/block/ folder:
// the 19-digit file name with a "/" after every group of four digits, e.g.
// block 82297471 is 0000/0000/0008/2297/471.blk.zstd.
func ObjectPath(n uint64, c Compression) string {
	digits := fmt.Sprintf("%0*d", numberDigits, n)
	var b strings.Builder
	b.Grow(len(digits) + 5 + len(extensions[Zstd]))
	for i := 0; i < numberDigits; i += 4 {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(digits[i:min(i+4, numberDigits)])
	}
	b.WriteString(c.String())
	return b.String()
}

// Name is what a block object's name says.
type Name struct {
	Number      uint64
	Compression Compression
}

// ParseName reads a block object's name: either the flat 19-digit form
// (0000000000000000007.blk.zstd) or the bucket path form whose last five
// parts are the digits in groups of four (…/0000/0000/0000/0000/007.blk.zstd);
// anything before those parts (the network folder and "block/") is not
// looked at. Every digit group must be exactly as wide as the format
// writes it, so one object has one name: a name from outside cannot smuggle
// another number, a path, or a second extension through.
func ParseName(name string) (Name, error) {
	var c Compression
	var stem string
	switch {
	case strings.HasSuffix(name, extensions[Zstd]):
		c, stem = Zstd, strings.TrimSuffix(name, extensions[Zstd])
	case strings.HasSuffix(name, extensions[Gzip]):
		c, stem = Gzip, strings.TrimSuffix(name, extensions[Gzip])
	case strings.HasSuffix(name, extensions[Plain]):
		c, stem = Plain, strings.TrimSuffix(name, extensions[Plain])
	default:
		return Name{}, fmt.Errorf("block name %q: want a .blk, .blk.gz or .blk.zstd name: %w", name, ErrMisnamed)
	}
	var digits string
	parts := strings.Split(stem, "/")
	last := parts[len(parts)-1]
	if len(last) == numberDigits {
		digits = last
	} else {
		if len(parts) < 5 {
			return Name{}, fmt.Errorf("block name %q: want 19 digits, or the digits in groups of four as a path: %w", name, ErrMisnamed)
		}
		groups := parts[len(parts)-5:]
		for i, g := range groups {
			want := 4
			if i == 4 {
				want = 3
			}
			if len(g) != want {
				return Name{}, fmt.Errorf("block name %q: group %q: want %d digits: %w", name, g, want, ErrMisnamed)
			}
		}
		digits = strings.Join(groups, "")
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return Name{}, fmt.Errorf("block name %q: %q is not a block number: %w", name, digits, ErrMisnamed)
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return Name{}, fmt.Errorf("block name %q: %v: %w", name, err, ErrMisnamed)
	}
	return Name{Number: n, Compression: c}, nil
}

// compressionOf is the compression a name's extension says, for names that
// are not block object names (test fixtures such as 3.blk.gz).
func compressionOf(name string) (Compression, bool) {
	switch {
	case strings.HasSuffix(name, extensions[Zstd]):
		return Zstd, true
	case strings.HasSuffix(name, extensions[Gzip]):
		return Gzip, true
	case strings.HasSuffix(name, extensions[Plain]):
		return Plain, true
	}
	return 0, false
}
