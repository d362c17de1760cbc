package testkit

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FreeAddr is a 127.0.0.1 address nothing listens on, for a server the
// test starts (a service's METRICS_ADDR) or for one that must be down.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Probe GETs path on addr and returns the status and body; status 0 (and
// the error as the body) while nothing answers.
func Probe(addr, path string) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// WaitStatus polls path on addr until it answers want and returns the
// body. It fails the test after 90 s, printing the last answer and what
// the process under test said (out), which is what explains a wrong
// health or readiness state.
func WaitStatus(t testing.TB, addr, path string, want int, out fmt.Stringer) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := Probe(addr, path)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d (last: %d %s); the process said:\n%s", path, want, code, body, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
