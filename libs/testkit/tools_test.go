package testkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestRepoRootHoldsGoWork(t *testing.T) {
	root := RepoRoot()
	if root == "" {
		t.Fatal("RepoRoot found no go.work above the test's directory")
	}
	b, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil || !strings.Contains(string(b), "./libs") {
		t.Fatalf("go.work at %s does not use ./libs: %v", root, err)
	}
}

// fatalTB records the message of a Fatalf and stops the goroutine the way
// testing.T does, so the failure path of Tool can be checked.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestToolSaysHowToInstall(t *testing.T) {
	if p := Tool(t, "versitygw"); filepath.Base(p) != "versitygw" {
		t.Fatalf("Tool(versitygw) = %q", p)
	}
	ftb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); Tool(ftb, "no-such-binary-tributary") }()
	<-done
	if !strings.Contains(ftb.msg, "no-such-binary-tributary not found in PATH") {
		t.Errorf("Tool of a missing binary failed with %q", ftb.msg)
	}
	if how := howToInstall["versitygw"]; !strings.Contains(how, "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0") {
		t.Errorf("versitygw install hint %q lacks the go install command", how)
	}
}

// TestS3KeepsDataOverRestart is what outage tests rely on: Stop makes the
// endpoint refuse, Restart brings the same objects back.
func TestS3KeepsDataOverRestart(t *testing.T) {
	ctx := context.Background()
	srv := RunS3(t)
	b, err := srv.CreateBucket(ctx, "restart-"+randomHex(4))
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.Name, Key: aws.String("a/b c"), Body: strings.NewReader("payload")}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.Name, Key: aws.String("a/b c")}); err == nil {
		t.Fatal("GetObject succeeded while the server was stopped")
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.Name, Key: aws.String("a/b c")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, _ := io.ReadAll(out.Body)
	if string(got) != "payload" {
		t.Fatalf("after restart the object holds %q", got)
	}
}

// TestS3BucketsAreFresh: two tests never share a bucket or server.
func TestS3BucketsAreFresh(t *testing.T) {
	a, b := S3(t), S3(t)
	if a.Endpoint == b.Endpoint || a.Name == b.Name {
		t.Fatalf("S3 handed out the same server or bucket twice: %v, %v", a, b)
	}
	if a.Region != "" || a.ID != S3AccessKey || a.Key.Value() != S3SecretKey {
		t.Fatalf("bucket config %v does not carry the server's credentials", a)
	}
}
