// Package blob is one interface over the object stores Tributary reads and
// writes: S3 (and S3-compatible servers), Google Cloud Storage, and a local
// directory. Every backend lists in key order after a marker (so a service
// resumes cheaply where it stopped), streams reads, and writes once: a put
// never replaces an object, which is what makes re-runs after a crash safe.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"tributary.dev/libs/config"
)

// Object is one listed object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
	// ETag is the store's version tag of the object as listed (S3's
	// ETag, GCS's Etag; empty for a local directory): a reader that
	// recorded it can tell an object rewritten under the same key.
	ETag string
}

var (
	// ErrExists is returned by Put when the key is already taken.
	ErrExists = errors.New("object already exists")
	// ErrNotFound is returned for a key that is not there.
	ErrNotFound = errors.New("object not found")
)

// Store is a bucket.
type Store interface {
	// Bucket names the bucket (or directory) for logs and index rows.
	Bucket() string
	// List calls fn for every object whose key starts with prefix and sorts
	// after startAfter, in lexical (byte) order, page by page. An error
	// from fn stops the listing and is returned.
	List(ctx context.Context, prefix, startAfter string, fn func(Object) error) error
	// Dirs returns the common prefixes one level below prefix (which
	// should end in "/"), each ending in "/", in lexical order: how a
	// service finds the schemas and tables under a delivery path without
	// listing every object.
	Dirs(ctx context.Context, prefix string) ([]string, error)
	// Open streams an object's bytes.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// ReadRange streams length bytes from offset.
	ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Put writes the object if the key is free and returns ErrExists if
	// not; size may be -1 when unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Delete removes the object; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Open returns the store a config.Bucket names. The endpoint picks the
// backend:
//
//	file:///var/lib/records        a local directory
//	gs://  or https://storage.googleapis.com   Google Cloud Storage
//	gcs+http://127.0.0.1:14443     a GCS-compatible server (fake-gcs-server)
//	anything else (http://…, empty) S3 or an S3-compatible server
//
// Every request to S3 or GCS has a deadline (WithTimeout, DefaultTimeout
// without it), so a hung server becomes an error IsTimeout recognises
// rather than a stuck pass. A local directory needs none.
func Open(ctx context.Context, b config.Bucket, opts ...Option) (Store, error) {
	// Each branch checks err itself: returning a nil *Local as a Store
	// would make a non-nil interface holding nil.
	switch {
	case strings.HasPrefix(b.Endpoint, "file://"):
		s, err := NewLocal(strings.TrimPrefix(b.Endpoint, "file://"))
		if err != nil {
			return nil, err
		}
		return s, nil
	case strings.HasPrefix(b.Endpoint, "gs://"), strings.Contains(b.Endpoint, "storage.googleapis.com"), strings.HasPrefix(b.Endpoint, "gcs+"):
		s, err := OpenGCS(ctx, b, opts...)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		s, err := NewS3(ctx, b, opts...)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// CheckKey rejects keys no backend should be asked for: empty, with NUL,
// or not valid UTF-8 (S3 and GCS require it).
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty object key")
	}
	if strings.ContainsRune(key, 0) {
		return fmt.Errorf("object key %q contains NUL", key)
	}
	if !validUTF8(key) {
		return fmt.Errorf("object key %q is not UTF-8", key)
	}
	return nil
}
