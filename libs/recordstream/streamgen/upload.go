package streamgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"tributary.dev/libs/blob"
)

// uploadWorkers is how many puts Upload keeps in flight: object stores
// answer one small put in a round trip, and thousands of files are
// uploaded for a benchmark.
const uploadWorkers = 8

// Upload puts the objects into store under their keys. An object already
// there is left as it is (stores are write-once, so uploading the same
// set twice is a no-op); any other failure stops the upload and names the
// key.
func Upload(ctx context.Context, store blob.Store, objs []Object) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Object)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(uploadWorkers, len(objs)) {
		wg.Go(func() {
			for o := range work {
				err := store.Put(ctx, o.Key, bytes.NewReader(o.Body), int64(len(o.Body)))
				if err != nil && !errors.Is(err, blob.ErrExists) {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("streamgen: upload %s to %s: %w", o.Key, store.Bucket(), err)
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, o := range objs {
		select {
		case work <- o:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// DirObjects reads every file under root as an object keyed prefix + its
// path below root, in key order: the fixtures' recordstreams/v6 read with
// prefix "recordstreams/" become recordstreams/record0.0.3/… as a bucket
// holds them.
func DirObjects(root, prefix string) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, Object{Key: prefix + filepath.ToSlash(rel), Body: body})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("streamgen: read %s: %w", root, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// UploadDir uploads every file under root keyed prefix + its path below
// root (DirObjects, then Upload): a fixture dataset into a bucket.
func UploadDir(ctx context.Context, store blob.Store, root, prefix string) (int, error) {
	objs, err := DirObjects(root, prefix)
	if err != nil {
		return 0, err
	}
	return len(objs), Upload(ctx, store, objs)
}
