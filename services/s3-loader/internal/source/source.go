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
	"tributary.dev/services/s3-loader/internal/dms"
)

// Source lists and opens delivery files below a root path of a bucket.
type Source struct {
	store blob.Store
	root  string
	part  dms.DatePartition
}

// New reads deliveries from store below root (the SOURCE bucket_path),
// laid out as the endpoint's date partitioning says.
func New(store blob.Store, root string, part dms.DatePartition) *Source {
	return &Source{store: store, root: strings.Trim(root, "/"), part: part}
}

// Root is the path below the bucket deliveries are under.
func (s *Source) Root() string { return s.root }

// Bucket names the bucket, for logs.
func (s *Source) Bucket() string { return s.store.Bucket() }

// Partition is the endpoint's date partitioning the keys are read with.
func (s *Source) Partition() dms.DatePartition { return s.part }

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

// ParseTable reads "schema.table" as an operator writes it.
func ParseTable(s string) (Table, error) {
	schema, table, ok := strings.Cut(s, ".")
	if !ok || pg.CheckIdent(schema) != nil || pg.CheckIdent(table) != nil {
		return Table{}, fmt.Errorf("%q is not <schema>.<table> with plain identifiers (the DMS folder names)", s)
	}
	return Table{schema, table}, nil
}

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

// Unplaced is a key under a table folder the loader cannot place.
type Unplaced struct {
	Key      string
	Modified time.Time
	Err      error
}

// Listing is what one scan of a table folder found.
type Listing struct {
	Files    []File     // placeable files, in delivery order
	Unplaced []Unplaced // keys no rule places, in key order
}

// Window bounds a scan to what can be new.
type Window struct {
	// Since: change files stamped before it are not looked for (the
	// last applied change less the lateness window).
	Since time.Time
	// FolderSince: date folders whose period starts before the one
	// holding it are not listed (a file may sit in a folder older than
	// its name: the folder is the commit date).
	FolderSince time.Time
}

// Scan lists a table folder whole: every key, placed or not. It is how a
// table's first pass finds its files, and how the periodic audit finds
// late files and stray keys wherever they are.
func (s *Source) Scan(ctx context.Context, t Table) (Listing, error) {
	l, err := s.listAll(ctx, s.prefix(t.Schema, t.Table))
	if err != nil {
		return Listing{}, fmt.Errorf("list %s: %w", t, err)
	}
	return l, nil
}

// listAll places every key below prefix.
func (s *Source) listAll(ctx context.Context, prefix string) (Listing, error) {
	var l Listing
	seen := map[string]bool{}
	if err := s.store.List(ctx, prefix, "", func(o blob.Object) error { s.place(&l, seen, o); return nil }); err != nil {
		return Listing{}, err
	}
	l.sort()
	return l, nil
}

// ScanNew lists what can be new in a table folder since w, at a cost that
// follows the new files rather than the folder's history:
//
//   - the files directly in the folder (flat CDC names, stamped in UTC,
//     and every LOAD file, so a rewritten one is seen) after the
//     flat name of w.Since, stepping over sub-folders;
//   - with date partitioning, the date folders from the period of
//     w.FolderSince on, found by walking the folders that exist, each
//     listed from its name for an hour before w.Since.
//
// Each layout keeps its own position: "2024/01/02/…" sorts before
// "20240101-…", so one StartAfter key for both would pass over a layout
// (date folders switched on mid-stream).
func (s *Source) ScanNew(ctx context.Context, t Table, w Window) (Listing, error) {
	var l Listing
	seen := map[string]bool{}
	tp := s.prefix(t.Schema, t.Table)
	add := func(o blob.Object) error { s.place(&l, seen, o); return nil }
	if err := s.listFlat(ctx, tp, tp+cdcStamp(w.Since, time.UTC), add); err != nil {
		return Listing{}, fmt.Errorf("list %s: %w", t, err)
	}
	if s.part.Enabled {
		folders, err := s.dateFolders(ctx, tp, w.FolderSince)
		if err != nil {
			return Listing{}, fmt.Errorf("list the date folders of %s: %w", t, err)
		}
		for _, f := range folders {
			after := f + cdcStamp(w.Since.Add(-time.Hour), s.part.Location())
			if err := s.store.List(ctx, f, after, add); err != nil {
				return Listing{}, fmt.Errorf("list %s: %w", f, err)
			}
		}
	}
	l.sort()
	return l, nil
}

// listFlat lists the objects directly in folder tp after startAfter. Keys
// in sub-folders are stepped over a folder at a time: the listing starts
// again after the folder.
func (s *Source) listFlat(ctx context.Context, tp, startAfter string, fn func(blob.Object) error) error {
	for {
		var skip string
		err := s.store.List(ctx, tp, startAfter, func(o blob.Object) error {
			rest := strings.TrimPrefix(o.Key, tp)
			if dir, _, ok := strings.Cut(rest, "/"); ok {
				skip = tp + dir + "/"
				return errSkipFolder
			}
			return fn(o)
		})
		if !errors.Is(err, errSkipFolder) {
			return err
		}
		// The highest code point sorts after every key DMS writes in the
		// folder, and before the next name beside it.
		startAfter = skip + "\U0010FFFF"
	}
}

var errSkipFolder = errors.New("step over a sub-folder")

// dateFolders walks the date folders that exist below tp, level by level,
// leaving out every branch whose periods all end before the period
// holding since, and returns the leaf folders (each ending in "/").
func (s *Source) dateFolders(ctx context.Context, tp string, since time.Time) ([]string, error) {
	from := s.part.Start(since)
	levels := s.part.Levels()
	frontier := []string{tp}
	for level := 1; level <= levels; level++ {
		var next []string
		for _, p := range frontier {
			dirs, err := s.store.Dirs(ctx, p)
			if err != nil {
				return nil, err
			}
			for _, d := range dirs {
				name := strings.TrimSuffix(strings.TrimPrefix(d, tp), "/")
				if s.part.MayReach(name, level, from) {
					next = append(next, d)
				}
			}
		}
		frontier = next
	}
	return frontier, nil
}

// place sorts one listed object into the listing.
func (s *Source) place(l *Listing, seen map[string]bool, o blob.Object) {
	if seen[o.Key] {
		return
	}
	seen[o.Key] = true
	f, err := ParseKey(s.root, o.Key, s.part, o.Modified)
	if err != nil {
		l.Unplaced = append(l.Unplaced, Unplaced{Key: o.Key, Modified: o.Modified, Err: err})
		return
	}
	f.Size, f.ETag = o.Size, o.ETag
	l.Files = append(l.Files, f)
}

func (l *Listing) sort() {
	sort.SliceStable(l.Files, func(i, j int) bool { return Before(l.Files[i], l.Files[j]) })
	sort.SliceStable(l.Unplaced, func(i, j int) bool { return l.Unplaced[i].Key < l.Unplaced[j].Key })
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

// Loads lists a table's full-load files (and keys that start like one).
func (s *Source) Loads(ctx context.Context, t Table) (Listing, error) {
	l, err := s.listAll(ctx, s.prefix(t.Schema, t.Table)+"LOAD")
	if err != nil {
		return Listing{}, fmt.Errorf("list the full-load files of %s: %w", t, err)
	}
	return l, nil
}

// Again lists the given keys once more (those still there), placed: how
// a pass keeps in view what the last whole listing found outside the
// places each pass looks (a late file, a stray key) until it is dealt
// with.
func (s *Source) Again(ctx context.Context, keys []string) (Listing, error) {
	var l Listing
	seen := map[string]bool{}
	for _, k := range keys {
		err := s.store.List(ctx, k, "", func(o blob.Object) error {
			if o.Key == k {
				s.place(&l, seen, o)
			}
			return errSkipFolder // the key sorts first: nothing after it is wanted
		})
		if err != nil && !errors.Is(err, errSkipFolder) {
			return Listing{}, fmt.Errorf("list %s again: %w", k, err)
		}
	}
	l.sort()
	return l, nil
}
