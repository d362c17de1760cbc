package recordstream

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxFileSize bounds what a reader takes in, before and after gunzip: a real
// record file is a few megabytes, and a hostile .gz must not exhaust memory.
const MaxFileSize = 256 << 20

// HAPIVersion is the version of the API whose protobufs a v5 or v6 file's
// items are encoded with.
type HAPIVersion struct {
	Major, Minor, Patch int32
}

func (v HAPIVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Item is one transaction of a record file: the bytes of its Transaction
// and TransactionRecord protobufs exactly as the node wrote them (slices of
// the file's buffer: do not modify them), and the record's consensus time.
type Item struct {
	Transaction []byte
	Record      []byte
	// ConsensusNs is TransactionRecord.consensusTimestamp in nanoseconds
	// since the Unix epoch.
	ConsensusNs int64
}

// SidecarMeta is a v6 record file's entry for one of its sidecar files.
type SidecarMeta struct {
	ID    int32
	Name  string // <record file's consensus start>_<ID, two digits>.rcd.gz
	Hash  []byte // SHA-384 of the sidecar's decompressed bytes
	Types []SidecarType
}

// RecordFile is a record file read, hashed and checked against itself.
type RecordFile struct {
	Name    string
	Version int   // 2, 5 or 6
	Size    int64 // bytes as stored (the .gz size for a gzipped file)

	// LegacyHAPI is the single API version number of a v2 header (3 in
	// every v2 file seen); HAPI is major.minor.patch of v5 and v6.
	LegacyHAPI int32
	HAPI       HAPIVersion

	Items []Item
	// ConsensusStart and ConsensusEnd are the first and the last item's
	// consensus times (ns). A v6 file without items has neither; they are
	// then the time in its name, as the mirror node does.
	ConsensusStart, ConsensusEnd int64

	// FileHash is what the signature files sign: v2 SHA-384(first 57 bytes
	// || SHA-384(rest)), v5 SHA-384 of the file, v6 SHA-384 of the
	// decompressed file.
	FileHash []byte
	// MetadataHash (v5, v6) is what the second signature signs.
	MetadataHash []byte
	// PrevHash is what the previous file of the stream must end with: v2
	// its previous-file hash, v5/v6 the start running hash.
	PrevHash []byte
	// EndRunningHash (v5, v6) is the running hash after the last item,
	// recomputed from the items (a file whose stored value differs is
	// refused).
	EndRunningHash []byte

	// BlockNumber (v6) is the block this file is; v2 and v5 have none.
	BlockNumber int64
	Sidecars    []SidecarMeta
}

// ChainHash is the hash the next file of the stream must start from: the
// file hash of a v2 file, the end running hash of a v5 or v6 file (a v5
// file following a v2 one starts from the v2 file hash).
func (f *RecordFile) ChainHash() []byte {
	if f.Version == 2 {
		return f.FileHash
	}
	return f.EndRunningHash
}

// Read reads a record file of any version from r. name is the object or
// file name: it decides gunzip (a name ending in ".gz" must be gzip) and
// appears in every error.
func Read(name string, r io.Reader) (*RecordFile, error) {
	data, err := readAll(name, r)
	if err != nil {
		return nil, err
	}
	return Parse(name, data)
}

// Parse reads a record file held in data, as stored (gzipped if name ends
// in ".gz"). Items alias data (or its decompressed copy): data must not be
// modified while they are in use.
func Parse(name string, data []byte) (*RecordFile, error) {
	size := int64(len(data))
	plain, err := gunzipIfNamed(name, data)
	if err != nil {
		return nil, err
	}
	c := &cursor{file: name, buf: plain}
	version, err := c.i32("record file version")
	if err != nil {
		return nil, err
	}
	var f *RecordFile
	switch version {
	case 2:
		f, err = parseV2(c)
	case 5:
		f, err = parseV5(c)
	case 6:
		f, err = parseV6(c)
	default:
		return nil, c.fail(0, ErrUnsupportedVersion, "record file version %d (want 2, 5 or 6)", version)
	}
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, ".gz") && version != 6 {
		// Nodes gzip only v6 files: a gzipped v2 or v5 file did not
		// come from one.
		return nil, c.fail(0, ErrMalformed, "version %d record file named .gz", version)
	}
	f.Name, f.Version, f.Size = name, int(version), size
	if len(f.Items) > 0 {
		f.ConsensusStart = f.Items[0].ConsensusNs
		f.ConsensusEnd = f.Items[len(f.Items)-1].ConsensusNs
	} else if t, err := NameTime(name); err == nil {
		f.ConsensusStart, f.ConsensusEnd = t.UnixNano(), t.UnixNano()
	}
	return f, nil
}

// parseV2: int32 2 | int32 hapi | 0x01 | prev hash | (0x02 | int32 len |
// Transaction | int32 len | TransactionRecord)*. The version int is read.
func parseV2(c *cursor) (*RecordFile, error) {
	f := &RecordFile{}
	var err error
	if f.LegacyHAPI, err = c.i32("HAPI version"); err != nil {
		return nil, err
	}
	at := c.off
	if m, err := c.u8("previous hash marker"); err != nil {
		return nil, err
	} else if m != 1 {
		return nil, c.fail(at, ErrMalformed, "previous hash marker: want 1, got %d", m)
	}
	if f.PrevHash, err = c.take(HashSize, "previous hash"); err != nil {
		return nil, err
	}
	header := c.off // 57
	for c.left() > 0 {
		at := c.off
		m, _ := c.u8("record marker")
		if m != 2 {
			return nil, c.fail(at, ErrMalformed, "item %d: record marker: want 2, got %d", len(f.Items), m)
		}
		var it Item
		if it.Transaction, err = c.lengthAndBytes(1, "transaction"); err != nil {
			return nil, atItem(err, len(f.Items))
		}
		if it.Record, err = c.lengthAndBytes(1, "record"); err != nil {
			return nil, atItem(err, len(f.Items))
		}
		if it.ConsensusNs, err = consensusNs(it.Record); err != nil {
			return nil, c.fail(at, ErrMalformed, "item %d: record: %v", len(f.Items), err)
		}
		f.Items = append(f.Items, it)
	}
	body := sha512.Sum384(c.buf[header:])
	h := sha512.New384()
	h.Write(c.buf[:header])
	h.Write(body[:])
	f.FileHash = h.Sum(nil)
	return f, nil
}

// parseV5: int32 5 | hapi major, minor, patch | int32 object stream
// version | start HashObject | record stream object* | end HashObject.
func parseV5(c *cursor) (*RecordFile, error) {
	f := &RecordFile{}
	var err error
	if f.HAPI, err = readHAPI(c); err != nil {
		return nil, err
	}
	if _, err := c.i32("object stream version"); err != nil {
		return nil, err
	}
	if f.PrevHash, err = readHashObject(c, "start running hash"); err != nil {
		return nil, err
	}
	metaHead := c.buf[:c.off]
	running := newRunningHash(f.PrevHash)
	for {
		id, ok := c.peek64()
		if !ok {
			return nil, c.fail(c.off, ErrTruncated, "item %d or end running hash: need 8 bytes, %d left", len(f.Items), c.left())
		}
		if id == hashClassID {
			break
		}
		at := c.off
		if err := c.expect64(itemClassID, "class id"); err != nil {
			return nil, atItem(err, len(f.Items))
		}
		if _, err := c.i32("class version"); err != nil {
			return nil, atItem(err, len(f.Items))
		}
		var it Item
		// v5 writes the record first, unlike v2.
		if it.Record, err = c.lengthAndBytes(1, "record"); err != nil {
			return nil, atItem(err, len(f.Items))
		}
		if it.Transaction, err = c.lengthAndBytes(1, "transaction"); err != nil {
			return nil, atItem(err, len(f.Items))
		}
		if it.ConsensusNs, err = consensusNs(it.Record); err != nil {
			return nil, c.fail(at, ErrMalformed, "item %d: record: %v", len(f.Items), err)
		}
		running.addSerialised(c.buf[at:c.off])
		f.Items = append(f.Items, it)
	}
	if len(f.Items) == 0 {
		return nil, c.fail(c.off, ErrMalformed, "no items (a v5 file has at least one)")
	}
	endAt := c.off
	stored, err := readHashObject(c, "end running hash")
	if err != nil {
		return nil, err
	}
	if err := c.end("end running hash"); err != nil {
		return nil, err
	}
	if !bytes.Equal(stored, running.sum) {
		return nil, runningHashMismatch(c, endAt, stored, running.sum)
	}
	f.EndRunningHash = running.sum
	whole := sha512.Sum384(c.buf)
	f.FileHash = whole[:]
	h := sha512.New384()
	h.Write(metaHead)
	h.Write(c.buf[endAt:])
	f.MetadataHash = h.Sum(nil)
	return f, nil
}

func runningHashMismatch(c *cursor, at int, stored, computed []byte) error {
	return fmt.Errorf("%s: byte %d: end running hash %x, recomputed from the items %x: %w",
		c.file, at, stored, computed, ErrHashMismatch)
}

func readHAPI(c *cursor) (v HAPIVersion, err error) {
	if v.Major, err = c.i32("HAPI major version"); err != nil {
		return v, err
	}
	if v.Minor, err = c.i32("HAPI minor version"); err != nil {
		return v, err
	}
	v.Patch, err = c.i32("HAPI patch version")
	return v, err
}

// readHashObject reads a v5 HashObject: class id, class version, digest
// type, length 48, hash.
func readHashObject(c *cursor, what string) ([]byte, error) {
	if err := c.expect64(hashClassID, what+" class id"); err != nil {
		return nil, err
	}
	if _, err := c.i32(what + " class version"); err != nil {
		return nil, err
	}
	if err := c.expect32(sha384DigestType, what+" digest type"); err != nil {
		return nil, err
	}
	if err := c.expect32(HashSize, what+" length"); err != nil {
		return nil, err
	}
	return c.take(HashSize, what)
}

// v6MetadataHash: SHA-384(int32 6 | int32 major | minor | patch | start
// running hash | end running hash | int64 block number).
func v6MetadataHash(v HAPIVersion, start, end []byte, block int64) []byte {
	var b [16]byte
	h := sha512.New384()
	binary.BigEndian.PutUint32(b[0:], 6)
	binary.BigEndian.PutUint32(b[4:], uint32(v.Major))
	binary.BigEndian.PutUint32(b[8:], uint32(v.Minor))
	binary.BigEndian.PutUint32(b[12:], uint32(v.Patch))
	h.Write(b[:])
	h.Write(start)
	h.Write(end)
	binary.BigEndian.PutUint64(b[:8], uint64(block))
	h.Write(b[:8])
	return h.Sum(nil)
}

// readAll reads at most MaxFileSize bytes.
func readAll(name string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, &FormatError{File: name, Offset: MaxFileSize, What: fmt.Sprintf("larger than %d bytes", MaxFileSize), Reason: ErrMalformed}
	}
	return data, nil
}

// gunzipIfNamed decompresses data when name ends in ".gz"; a .gz name over
// bytes that are not gzip, or a gzip stream cut short, is an error rather
// than something to guess around.
func gunzipIfNamed(name string, data []byte) ([]byte, error) {
	if !strings.HasSuffix(name, ".gz") {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		reason := ErrMalformed
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			reason = ErrTruncated
		}
		return nil, &FormatError{File: name, What: "gzip header: " + err.Error(), Reason: reason}
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, MaxFileSize+1))
	if err != nil {
		reason := ErrMalformed
		if errors.Is(err, io.ErrUnexpectedEOF) {
			reason = ErrTruncated
		}
		return nil, &FormatError{File: name, Offset: n, What: "gunzip: " + err.Error(), Reason: reason}
	}
	if n > MaxFileSize {
		return nil, &FormatError{File: name, Offset: MaxFileSize, What: fmt.Sprintf("larger than %d bytes decompressed", MaxFileSize), Reason: ErrMalformed}
	}
	return out.Bytes(), nil
}
