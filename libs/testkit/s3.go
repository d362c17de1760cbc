package testkit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"tributary.dev/libs/config"
)

// Credentials of the S3 servers testkit and the devstack start.
const (
	S3AccessKey = "tributary"
	S3SecretKey = "tributary-secret"
)

// S3Server is a versitygw process serving a directory over the S3 API.
type S3Server struct {
	Endpoint string // http://host:port
	addr     string
	dir      string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// S3 starts an S3 server for this test and returns a fresh bucket on it.
func S3(t testing.TB) config.Bucket {
	t.Helper()
	srv := RunS3(t)
	b, err := srv.CreateBucket(context.Background(), "test-"+randomHex(6))
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return b
}

// RunS3 starts versitygw on a free port over a temp dir, stopped when the
// test ends. Tests that make the server unavailable use Stop/Restart.
func RunS3(t testing.TB) *S3Server {
	t.Helper()
	if _, ok := LookTool("versitygw"); !ok {
		Tool(t, "versitygw") // fails with how to install it
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := StartS3(context.Background(), fmt.Sprintf("127.0.0.1:%d", port), t.TempDir())
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// StartS3 runs versitygw on addr serving dir; the devstack uses it on a
// fixed port.
func StartS3(ctx context.Context, addr, dir string) (*S3Server, error) {
	srv := &S3Server{Endpoint: "http://" + addr, addr: addr, dir: dir}
	if err := srv.start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

func (s *S3Server) start(ctx context.Context) error {
	bin, ok := LookTool("versitygw")
	if !ok {
		return fmt.Errorf("versitygw not found: %s", howToInstall["versitygw"])
	}
	// --keep-alive: versitygw closes every connection after one request
	// unless told otherwise, which S3 itself does not do; a client doing
	// many small requests would measure connection set-up instead.
	// --quiet: no line on stdout per request.
	cmd := exec.Command(bin, "--access", S3AccessKey, "--secret", S3SecretKey, "--port", s.addr, "--keep-alive", "--quiet", "posix", s.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY=", "ROOT_SECRET_KEY=")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// The server must not outlive the test process, even after a panic.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited at start: %s", out.String())
		default:
		}
		// Ready when it answers HTTP (any status: an unsigned request is
		// refused, which proves the S3 handler is up), not merely when
		// the port accepts.
		if resp, err := probe.Get(s.Endpoint + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			return fmt.Errorf("versitygw did not listen on %s within 20s: %s", s.addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	return nil
}

// Stop kills the server; its data stays in the directory.
func (s *S3Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	// Wait until the port is free so a Restart can bind it again.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", s.addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart starts the server again on the same address and directory.
func (s *S3Server) Restart(ctx context.Context) error {
	s.Stop()
	return s.start(ctx)
}

// Bucket is the config for bucket name on this server.
func (s *S3Server) Bucket(name string) config.Bucket {
	return config.Bucket{Endpoint: s.Endpoint, ID: S3AccessKey, Key: config.Secret(S3SecretKey), Name: name}
}

// Client is an S3 client for this server.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(S3AccessKey, S3SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		// versitygw, like other S3-compatible servers, does not take the
		// SDK's default trailing checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 &http.Client{Timeout: 30 * time.Second},
	})
}

// CreateBucket makes a bucket and returns its config.
func (s *S3Server) CreateBucket(ctx context.Context, name string) (config.Bucket, error) {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		return config.Bucket{}, fmt.Errorf("create bucket %s on %s: %w", name, s.Endpoint, err)
	}
	return s.Bucket(name), nil
}
