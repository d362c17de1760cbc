package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/pg"
)

// Source lists and opens delivery files below a root path of a bucket.
type Source struct {
	store blob.Store
	root  string
}

// New reads deliveries from store below root (the SOURCE bucket_path).
func New(store blob.Store, root string) *Source {
	return &Source{store: store, root: strings.Trim(root, "/")}
}

// Root is the path below the bucket deliveries are under.
func (s *Source) Root() string { return s.root }

// Bucket names the bucket, for logs.
func (s *Source) Bucket() string { return s.store.Bucket() }

func (s *Source) prefix(parts ...string) string {
	p := s.root
	for _, x := range parts {
		if p != "" {
			p += "/"
		}
		p += x
	}
	if p != "" {
		p += "/"
	}
	return p
}

// Table is one <schema>/<table> folder.
type Table struct{ Schema, Table string }

func (t Table) String() string { return t.Schema + "." + t.Table }

// Tables finds the schema/table folders with one listing per schema.
// Folders whose names are not plain identifiers are returned in bad, so
// the caller can report them rather than skip them silently.
func (s *Source) Tables(ctx context.Context) (tables []Table, bad []string, err error) {
	schemas, err := s.store.Dirs(ctx, s.prefix())
	if err != nil {
		return nil, nil, err
	}
	for _, sp := range schemas {
		tdirs, err := s.store.Dirs(ctx, sp)
		if err != nil {
			return nil, nil, err
		}
		for _, tp := range tdirs {
			rel := strings.TrimSuffix(strings.TrimPrefix(tp, s.prefix()), "/")
			schema, table, _ := strings.Cut(rel, "/")
			if pg.CheckIdent(schema) != nil || pg.CheckIdent(table) != nil {
				bad = append(bad, tp)
				continue
			}
			tables = append(tables, Table{schema, table})
		}
	}
	return tables, bad, nil
}

// Marker is where a table's applied deliveries end.
type Marker struct {
	LastLoadKey string    // the last full-load key applied ("" if none)
	LastCDCKey  string    // the last CDC key applied ("" if none)
	LastCDCTime time.Time // its timestamp
}

// Pending lists a table's files not yet applied, in delivery order. It
// lists full-load files after the last applied one, and CDC files from
// lateWindow before the last applied CDC time, so that a file arriving
// late (older than one already applied) is seen and reported instead of
// silently passed over; applied says which of those were already done.
// The listing stays proportional to new files plus the window, not to
// the table's history.
func (s *Source) Pending(ctx context.Context, t Table, m Marker, lateWindow time.Duration, applied func(key string) bool) (files []File, errs []error, err error) {
	tp := s.prefix(t.Schema, t.Table)
	add := func(o blob.Object) {
		if applied(o.Key) {
			return
		}
		f, perr := ParseKey(s.root, o.Key)
		if perr != nil {
			errs = append(errs, perr)
			return
		}
		f.Size = o.Size
		files = append(files, f)
	}
	loadAfter := m.LastLoadKey
	if err := s.store.List(ctx, tp+"LOAD", loadAfter, func(o blob.Object) error { add(o); return nil }); err != nil {
		return nil, nil, err
	}
	cdcAfter := ""
	if m.LastCDCKey != "" {
		dated := strings.Count(strings.TrimPrefix(m.LastCDCKey, tp), "/") == 3
		cdcAfter = cdcStartAfter(tp, m.LastCDCTime.Add(-lateWindow), dated)
	}
	stop := errors.New("past the CDC keys")
	err = s.store.List(ctx, tp, cdcAfter, func(o blob.Object) error {
		if strings.HasPrefix(o.Key, tp+"LOAD") {
			return stop // CDC keys (digits) all sort before LOAD
		}
		add(o)
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, nil, err
	}
	sort.SliceStable(files, func(i, j int) bool { return Before(files[i], files[j]) })
	return files, errs, nil
}

// ErrCorrupt marks a .gz file that does not start as gzip.
var ErrCorrupt = errors.New("corrupt gzip")

// Body is an open delivery file: its CSV bytes, decompressed when the
// file is gzipped.
type Body struct {
	io.Reader
	raw *countingReader
	rc  io.Closer
}

// Stored is how many bytes of the object as stored (compressed, if it
// is) have been read: against File.Size, how far through the file a
// delivery is.
func (b *Body) Stored() int64 { return b.raw.n }

// Close releases the object.
func (b *Body) Close() error { return b.rc.Close() }

// ErrCutOff marks a read of an object that ended before the object did:
// the connection dropped or the store stopped answering. The file is not
// at fault and a retry reads it whole — unlike a gzip stream that ends
// early in an object read to its end, which is a corrupt file.
var ErrCutOff = errors.New("object read ended early")

type countingReader struct {
	r    io.Reader
	n    int64
	size int64 // the object's size as listed
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && c.n < c.size {
		// An HTTP body cut short reads as io.ErrUnexpectedEOF, the same
		// error a truncated gzip stream gives: say which it is here,
		// where the bytes are counted.
		err = fmt.Errorf("%w after %d of %d bytes: %w", ErrCutOff, c.n, c.size, err)
	}
	return n, err
}

// Open streams a file's CSV bytes, decompressed when it is gzipped
// (klauspost's gzip: the same format as the standard library's, decoded
// in about half the CPU, which a full load spends beside PostgreSQL's).
func (s *Source) Open(ctx context.Context, f File) (*Body, error) {
	rc, err := s.store.Open(ctx, f.Key)
	if err != nil {
		return nil, err
	}
	raw := &countingReader{r: rc, size: f.Size}
	if !f.Gzip {
		return &Body{Reader: raw, raw: raw, rc: rc}, nil
	}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		rc.Close()
		if errors.Is(err, ErrCutOff) {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) {
			// Not gzip at all, or empty: the file is at fault, and
			// retrying will not change it.
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return &Body{Reader: zr, raw: raw, rc: rc}, nil
}
