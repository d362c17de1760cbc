package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
)

// The stub served alone answers the controller's protocol, its probe
// verb tells ready from not, and it stops on its context.
func TestServesTheControllerProtocol(t *testing.T) {
	addr := testkit.FreeAddr(t)
	t.Setenv("AGENT_ADDR", addr)
	t.Setenv("AGENT_LATENCY", "0s")
	base := "http://" + addr
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"probe", base}, &bytes.Buffer{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "probe:") {
		t.Fatalf("probe with nothing listening: exit %d %q", code, stderr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, nil, &testkit.SyncBuffer{}, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for run(context.Background(), []string{"probe", base}, &bytes.Buffer{}, &bytes.Buffer{}) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the stub never answered /readiness on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := `[{"schema":"registration.registries.ca","version":"1.0.42","attributes":{"registration_id":"BC0000001"}},
	          {"schema":"address.registries.ca","version":"1.0.42","attributes":{"registration_id":"BC0000001"}}]`
	resp, err := http.Post(base+"/issue-credential", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Success bool   `json:"success"`
		Result  string `json:"result"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(got) != 2 || !got[0].Success || !got[1].Success || got[0].Result == got[1].Result {
		t.Fatalf("issue-credential: %d %+v %v", resp.StatusCode, got, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stub did not stop on SIGTERM's context")
	}
}

func TestArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "agent-stub dev (revision ") {
		t.Fatalf("--version: exit %d %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "AGENT_ITEM_FAILURE_RATE") {
		t.Fatalf("--help: exit %d %q", code, stdout.String())
	}
	for _, a := range []string{"--port=1", "serve"} {
		stderr.Reset()
		if code := run(context.Background(), []string{a}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: agent-stub") {
			t.Fatalf("%s: exit %d %q", a, code, stderr.String())
		}
	}
	t.Setenv("AGENT_FAILURE_RATE", "1.5")
	stderr.Reset()
	if code := run(context.Background(), nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "AGENT_FAILURE_RATE: want a share") {
		t.Fatalf("bad rate: exit %d %q", code, stderr.String())
	}
}
