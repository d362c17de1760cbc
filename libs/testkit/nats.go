package testkit

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS starts an embedded nats-server with JetStream on a random port and
// returns its client URL. It shuts down when the test ends.
func NATS(t testing.TB) string {
	t.Helper()
	return NATSServer(t).ClientURL()
}

// NATSServer is NATS for tests that need the server itself (to stop and
// restart it, or to read its stream state).
func NATSServer(t testing.TB) *server.Server {
	t.Helper()
	s, err := StartNATS("127.0.0.1", server.RANDOM_PORT, t.TempDir())
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// StartNATS runs an embedded nats-server with JetStream storing under
// dir; the devstack uses it on a fixed port, tests on a random one.
func StartNATS(host string, port int, dir string) (*server.Server, error) {
	opts := &server.Options{
		Host:      host,
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats-server on %s:%d did not become ready in 10s", host, port)
	}
	return s, nil
}
