package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"tributary.dev/libs/config"
)

// GCS is a Store over a Google Cloud Storage bucket.
type GCS struct {
	client   *storage.Client
	bucket   string
	pageSize int
}

// OpenGCS connects to the bucket b names: real GCS (credentials from the
// environment, as Google's libraries find them) or, for a gcs+http://
// endpoint, a GCS-compatible server without authentication.
func OpenGCS(ctx context.Context, b config.Bucket) (*GCS, error) {
	var opts []option.ClientOption
	if ep, ok := strings.CutPrefix(b.Endpoint, "gcs+"); ok {
		opts = append(opts, option.WithEndpoint(strings.TrimRight(ep, "/")+"/storage/v1/"), option.WithoutAuthentication(),
			// JSON reads: the XML read path does not exist on
			// GCS-compatible servers.
			storage.WithJSONReads())
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs client: %w", err)
	}
	return NewGCS(client, b.Name), nil
}

// NewGCS wraps a client the caller built.
func NewGCS(client *storage.Client, bucket string) *GCS {
	return &GCS{client: client, bucket: bucket, pageSize: 1000}
}

func (g *GCS) Bucket() string { return g.bucket }

func (g *GCS) List(ctx context.Context, prefix, startAfter string, fn func(Object) error) error {
	q := &storage.Query{Prefix: prefix, StartOffset: startAfter}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated"}); err != nil {
		return err
	}
	it := g.client.Bucket(g.bucket).Objects(ctx, q)
	it.PageInfo().MaxSize = g.pageSize
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list gs://%s/%s after %q: %w", g.bucket, prefix, startAfter, err)
		}
		// StartOffset is inclusive; the marker itself was already seen.
		if a.Name == startAfter {
			continue
		}
		if err := fn(Object{Key: a.Name, Size: a.Size, Modified: a.Updated}); err != nil {
			return err
		}
	}
}

func (g *GCS) Dirs(ctx context.Context, prefix string) ([]string, error) {
	var dirs []string
	it := g.client.Bucket(g.bucket).Objects(ctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", g.bucket, prefix, err)
		}
		if a.Prefix != "" {
			dirs = append(dirs, a.Prefix)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func (g *GCS) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := g.client.Bucket(g.bucket).Object(key).NewReader(ctx)
	if err != nil {
		return nil, g.wrap("read", key, err)
	}
	return r, nil
}

func (g *GCS) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if length <= 0 {
		return io.NopCloser(http.NoBody), nil
	}
	r, err := g.client.Bucket(g.bucket).Object(key).NewRangeReader(ctx, offset, length)
	if err != nil {
		return nil, g.wrap("read", key, err)
	}
	return r, nil
}

func (g *GCS) Put(ctx context.Context, key string, r io.Reader, _ int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := g.client.Bucket(g.bucket).Object(key).If(storage.Conditions{DoesNotExist: true}).NewWriter(wctx)
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abandons the upload: nothing partial becomes visible
		_ = w.Close()
		return g.wrap("write", key, err)
	}
	if err := w.Close(); err != nil {
		return g.wrap("write", key, err)
	}
	return nil
}

func (g *GCS) Delete(ctx context.Context, key string) error {
	err := g.client.Bucket(g.bucket).Object(key).Delete(ctx)
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
