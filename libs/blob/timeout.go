package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// DefaultTimeout is the deadline of one object-store request when Open
// gets no WithTimeout: a minute is long for one list page or a put of a
// segment, and short enough that a hung server becomes an error, a retry
// and a metric within one pass.
const DefaultTimeout = 60 * time.Second

type options struct {
	timeout time.Duration
	// userProject is the GCS project billed for requests (requester-pays
	// buckets); credentialsFile a service-account key file for GCS.
	userProject     string
	credentialsFile string
	// requesterPays makes S3 reads and listings carry RequestPayer.
	requesterPays bool
	// s3DefaultCredentials takes S3 credentials from the AWS default
	// chain when the bucket config has no static key.
	s3DefaultCredentials bool
}

// Option changes how Open sets up a store.
type Option func(*options)

// WithTimeout gives every request d: a list page, a head, a put, a delete,
// and a read until its response headers arrive. A streaming read (Open,
// ReadRange) then fails when no byte arrives for d: an idle timeout per
// Read, not a cap on the whole read, so large objects still stream. Zero
// disables the deadlines.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

func buildOptions(opts []Option) options {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// errTimeout marks an error as an expired deadline; IsTimeout finds it.
var errTimeout = errors.New("object store did not answer in time")

// IsTimeout reports whether err comes from an expired deadline: a request
// the store did not answer within the timeout, a stalled read, or a
// context deadline or network timeout underneath. Callers retry these and
// count them apart from refusals.
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// watchdog cancels a call's context when it is armed for longer than d.
// Unlike context.WithTimeout it can be paused, which is what lets a
// listing time each page but not the caller's work between pages, and a
// read time each Read but not the consumer's work between Reads.
type watchdog struct {
	d      time.Duration
	cancel context.CancelFunc
	timer  *time.Timer
	fired  atomic.Bool
}

// newWatchdog returns ctx's child the watchdog cancels, armed. d <= 0
// gives a watchdog that never fires. stop must be called.
func newWatchdog(ctx context.Context, d time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{d: d, cancel: cancel}
	if d > 0 {
		w.timer = time.AfterFunc(d, func() {
			w.fired.Store(true)
			cancel()
		})
	}
	return ctx, w
}

// arm starts the clock again from now.
func (w *watchdog) arm() {
	if w.timer != nil {
		w.timer.Reset(w.d)
	}
}

// pause stops the clock.
func (w *watchdog) pause() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// stop releases the context.
func (w *watchdog) stop() {
	w.pause()
	w.cancel()
}

// check marks err as a timeout when the watchdog has fired: the context
// it cancelled is why the call failed.
func (w *watchdog) check(err error) error {
	if err == nil || !w.fired.Load() {
		return err
	}
	return fmt.Errorf("%w (%s): %w", errTimeout, w.d, err)
}

// idleReader is a streaming body under a watchdog armed only while a Read
// waits, so a read fails when the store sends nothing for d.
type idleReader struct {
	rc io.ReadCloser
	w  *watchdog
}

// watchBody hands rc to the caller with its watchdog paused between
// Reads; Close releases both.
func watchBody(rc io.ReadCloser, w *watchdog) io.ReadCloser {
	w.pause()
	return &idleReader{rc: rc, w: w}
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.w.arm()
	n, err := r.rc.Read(p)
	r.w.pause()
	if err != nil && err != io.EOF {
		err = r.w.check(err)
	}
	return n, err
}

func (r *idleReader) Close() error {
	err := r.rc.Close()
	r.w.stop()
	return err
}
