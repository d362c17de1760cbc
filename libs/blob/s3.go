package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"tributary.dev/libs/config"
)

func validUTF8(s string) bool { return utf8.ValidString(s) }

// S3 is a Store over an S3 bucket.
type S3 struct {
	client   *s3.Client
	bucket   string
	pageSize int32
	timeout  time.Duration
	// payer is RequestPayer on reads and listings ("" unless
	// WithS3RequesterPays).
	payer types.RequestPayer
}

// maxIdleConns is the connections kept open to the S3 endpoint between
// requests: enough for the most parallel writer among the services.
const maxIdleConns = 64

// NewS3 connects to the bucket b names. With an endpoint it uses path-style
// addressing, which S3-compatible servers expect; without one, AWS itself.
// Every request has the deadline WithTimeout gives (DefaultTimeout).
func NewS3(ctx context.Context, b config.Bucket, opts ...Option) (*S3, error) {
	o := buildOptions(opts)
	region := b.Region
	if region == "" {
		region = "us-east-1"
	}
	var creds aws.CredentialsProvider = credentials.NewStaticCredentialsProvider(b.ID, b.Key.Value(), "")
	if o.s3DefaultCredentials && b.ID == "" {
		// The chain is resolved at the first request, not here: an
		// instance role or web identity answers then, and the SDK
		// caches and refreshes what it gets.
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
		if err != nil {
			return nil, fmt.Errorf("s3://%s: AWS default credentials: %w", b.Name, err)
		}
		creds = cfg.Credentials
	}
	so := s3.Options{
		Region:      region,
		Credentials: creds,
		// Checksums only when the operation requires them: S3-compatible
		// servers reject the trailing checksums newer SDKs send by default.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		// The SDK keeps 10 idle connections per host; a caller writing
		// many small objects at once (the archiver's object mode runs 32
		// puts) would otherwise open and close connections all the time.
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = max(t.MaxIdleConns, maxIdleConns)
			t.MaxIdleConnsPerHost = maxIdleConns
			// A server that took the request and went quiet fails the
			// attempt even where no caller deadline would.
			if o.timeout > 0 {
				t.ResponseHeaderTimeout = o.timeout
			}
		}),
	}
	if b.Endpoint != "" {
		so.BaseEndpoint = aws.String(b.Endpoint)
		so.UsePathStyle = true
	}
	s := &S3{client: s3.New(so), bucket: b.Name, pageSize: 1000, timeout: o.timeout}
	if o.requesterPays {
		s.payer = types.RequestPayerRequester
	}
	return s, nil
}

// Client is the underlying SDK client, for what the interface lacks.
func (s *S3) Client() *s3.Client { return s.client }

func (s *S3) Bucket() string { return s.bucket }

func (s *S3) List(ctx context.Context, prefix, startAfter string, fn func(Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(prefix), MaxKeys: aws.Int32(s.pageSize), RequestPayer: s.payer}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := s.listPage(ctx, p)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s after %q: %w", s.bucket, prefix, startAfter, err)
		}
		for _, o := range page.Contents {
			obj := Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)}
			if o.LastModified != nil {
				obj.Modified = *o.LastModified
			}
			if err := fn(obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *S3) Dirs(ctx context.Context, prefix string) ([]string, error) {
	var dirs []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(prefix), Delimiter: aws.String("/"), RequestPayer: s.payer})
	for p.HasMorePages() {
		page, err := s.listPage(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			dirs = append(dirs, aws.ToString(cp.Prefix))
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// listPage fetches one page under the request deadline; the caller's
// work on the page before the next one is not timed.
func (s *S3) listPage(ctx context.Context, p *s3.ListObjectsV2Paginator) (*s3.ListObjectsV2Output, error) {
	wctx, w := newWatchdog(ctx, s.timeout)
	defer w.stop()
	page, err := p.NextPage(wctx)
	return page, w.check(err)
}

// call runs one request under the request deadline.
func (s *S3) call(ctx context.Context, do func(context.Context) error) error {
	wctx, w := newWatchdog(ctx, s.timeout)
	defer w.stop()
	return w.check(do(wctx))
}

func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.get(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, RequestPayer: s.payer})
}

// get waits for the response headers under the request deadline, then
// hands out the body with an idle deadline per Read.
func (s *S3) get(ctx context.Context, in *s3.GetObjectInput) (io.ReadCloser, error) {
	wctx, w := newWatchdog(ctx, s.timeout)
	out, err := s.client.GetObject(wctx, in)
	if err != nil {
		w.stop()
		return nil, s.wrap("read", aws.ToString(in.Key), w.check(err))
	}
	return watchBody(out.Body, w), nil
}

func (s *S3) ReadRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if length <= 0 {
		return io.NopCloser(http.NoBody), nil
	}
	rng := fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	return s.get(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: &rng, RequestPayer: s.payer})
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if _, ok := r.(io.ReadSeeker); !ok {
		// The SigV4 signer hashes the body before sending it, which needs
		// a second pass, so a stream goes to a temp file first. Sending it
		// unsigned instead is not safe: versitygw keeps the truncated body
		// of an upload whose reader failed half way, and a write-once key
		// would then hold a partial object for good. A signed payload
		// hash makes any server refuse a body that is not all there.
		f, n, err := spool(r)
		if err != nil {
			return fmt.Errorf("write s3://%s/%s: %w", s.bucket, key, err)
		}
		defer func() { f.Close(); os.Remove(f.Name()) }()
		if size >= 0 && n != size {
			return fmt.Errorf("write s3://%s/%s: reader gave %d bytes, want %d", s.bucket, key, n, size)
		}
		r, size = f, n
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: r, IfNoneMatch: aws.String("*")}
	if size >= 0 {
		in.ContentLength = aws.Int64(size)
	}
	// If-None-Match: * makes the server refuse the put when the key exists
	// (412), atomically, so two writers cannot both succeed. versitygw
	// honours it the same way AWS does, so no HEAD-then-PUT race is needed.
	err := s.call(ctx, func(ctx context.Context) error {
		_, err := s.client.PutObject(ctx, in)
		return err
	})
	if err == nil {
		return nil
	}
	if statusOf(err) == http.StatusConflict {
		// AWS answers 409 when another conditional write of the key is in
		// flight. That writer may still fail, so this is ErrExists only if
		// the object is there now; otherwise the caller must retry.
		herr := s.call(ctx, func(ctx context.Context) error {
			_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
			return err
		})
		if herr == nil {
			return fmt.Errorf("write s3://%s/%s: %w", s.bucket, key, ErrExists)
		}
		return fmt.Errorf("write s3://%s/%s: concurrent write in progress, retry: %w", s.bucket, key, err)
	}
	return s.wrap("write", key, err)
}

// spool copies r to a temp file and rewinds it; the caller removes it.
func spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "blob-put-*")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}

// statusOf is the HTTP status of a failed S3 call, 0 if it had none.
func statusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func (s *S3) Delete(ctx context.Context, key string) error {
	err := s.call(ctx, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
		return err
	})
	if err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}

// wrap maps S3's answers onto ErrExists/ErrNotFound and names the object.
func (s *S3) wrap(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
		// A missing bucket is a configuration error, not a missing
		// object a caller may wait for.
		return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, err)
	}
	switch statusOf(err) {
	case http.StatusPreconditionFailed:
		// Only Put sends a precondition (If-None-Match: *).
		return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, ErrExists)
	case http.StatusNotFound:
		return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, ErrNotFound)
	}
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, ErrNotFound)
	}
	return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, err)
}
