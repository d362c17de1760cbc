package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"tributary.dev/libs/config"
)

// GCS is a Store over a Google Cloud Storage bucket.
type GCS struct {
	client      *storage.Client
	bucket      string
	userProject string
	pageSize    int
	timeout     time.Duration
}

// OpenGCS connects to the bucket b names: real GCS (credentials from the
// environment, as Google's libraries find them) or, for a gcs+http://
// endpoint, a GCS-compatible server without authentication. Every request
// has the deadline WithTimeout gives (DefaultTimeout).
func OpenGCS(ctx context.Context, b config.Bucket, opts ...Option) (*GCS, error) {
	var copts []option.ClientOption
	if ep, ok := strings.CutPrefix(b.Endpoint, "gcs+"); ok {
		copts = append(copts, option.WithEndpoint(strings.TrimRight(ep, "/")+"/storage/v1/"), option.WithoutAuthentication(),
			// JSON reads: the XML read path does not exist on
			// GCS-compatible servers.
			storage.WithJSONReads())
	} else if f := buildOptions(opts).credentialsFile; f != "" {
		copts = append(copts, option.WithAuthCredentialsFile(option.ServiceAccount, f))
	}
	client, err := storage.NewClient(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("gcs client: %w", err)
	}
	return NewGCS(client, b.Name, opts...), nil
}

// NewGCS wraps a client the caller built.
func NewGCS(client *storage.Client, bucket string, opts ...Option) *GCS {
	o := buildOptions(opts)
	return &GCS{client: client, bucket: bucket, userProject: o.userProject, pageSize: 1000, timeout: o.timeout}
}

// handle is the bucket, billed to the user project when one is set.
func (g *GCS) handle() *storage.BucketHandle {
	h := g.client.Bucket(g.bucket)
	if g.userProject != "" {
		h = h.UserProject(g.userProject)
	}
	return h
}

// call runs one request under the request deadline.
func (g *GCS) call(ctx context.Context, do func(context.Context) error) error {
	wctx, w := newWatchdog(ctx, g.timeout)
	defer w.stop()
	return w.check(do(wctx))
}

func (g *GCS) Bucket() string { return g.bucket }

func (g *GCS) List(ctx context.Context, prefix, startAfter string, fn func(Object) error) error {
	q := &storage.Query{Prefix: prefix, StartOffset: startAfter}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated"}); err != nil {
		return err
	}
	// The iterator fetches a page inside Next when its buffer runs dry:
	// the deadline runs while Next does, not while fn works.
	wctx, w := newWatchdog(ctx, g.timeout)
	defer w.stop()
	it := g.handle().Objects(wctx, q)
	it.PageInfo().MaxSize = g.pageSize
	for {
		w.arm()
		a, err := it.Next()
		w.pause()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list gs://%s/%s after %q: %w", g.bucket, prefix, startAfter, w.check(err))
		}
		// StartOffset is inclusive; the marker itself was already seen.
		if a.Name == startAfter {
			continue
		}
		if err := fn(Object{Key: a.Name, Size: a.Size, Modified: a.Updated, ETag: a.Etag}); err != nil {
			return err
		}
	}
}

func (g *GCS) Dirs(ctx context.Context, prefix string) ([]string, error) {
	var dirs []string
	wctx, w := newWatchdog(ctx, g.timeout)
	defer w.stop()
	it := g.handle().Objects(wctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
	for {
		w.arm()
		a, err := it.Next()
		w.pause()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", g.bucket, prefix, w.check(err))
		}
		if a.Prefix != "" {
			dirs = append(dirs, a.Prefix)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func (g *GCS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return g.read(ctx, key, 0, -1)
}

func (g *GCS) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if length <= 0 {
		return io.NopCloser(http.NoBody), nil
	}
	return g.read(ctx, key, offset, length)
}

// read waits for the response headers under the request deadline, then
// hands out the body with an idle deadline per Read; length -1 reads to
// the end.
func (g *GCS) read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	wctx, w := newWatchdog(ctx, g.timeout)
	r, err := g.handle().Object(key).NewRangeReader(wctx, offset, length)
	if err != nil {
		w.stop()
		return nil, g.wrap("read", key, w.check(err))
	}
	return watchBody(r, w), nil
}

func (g *GCS) Put(ctx context.Context, key string, r io.Reader, _ int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	// The whole upload is one request under the deadline, reading r
	// included (callers hand Put bytes they already have); cancelling its
	// context abandons it, so nothing partial becomes visible.
	err := g.call(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := g.handle().Object(key).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		if _, err := io.Copy(w, r); err != nil {
			cancel()
			_ = w.Close()
			return err
		}
		return w.Close()
	})
	if err != nil {
		return g.wrap("write", key, err)
	}
	return nil
}

func (g *GCS) Delete(ctx context.Context, key string) error {
	err := g.call(ctx, func(ctx context.Context) error {
		return g.handle().Object(key).Delete(ctx)
	})
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return g.wrap("delete", key, err)
	}
	return nil
}

func (g *GCS) wrap(op, key string, err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("%s gs://%s/%s: %w", op, g.bucket, key, ErrNotFound)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%s gs://%s/%s: %w", op, g.bucket, key, ErrExists)
		case http.StatusNotFound:
			return fmt.Errorf("%s gs://%s/%s: %w", op, g.bucket, key, ErrNotFound)
		}
	}
	return fmt.Errorf("%s gs://%s/%s: %w", op, g.bucket, key, err)
}
