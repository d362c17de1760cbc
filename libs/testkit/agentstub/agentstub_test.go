package agentstub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

func post(t *testing.T, url string, creds []agentstub.Credential) (int, []agentstub.Result) {
	t.Helper()
	body, _ := json.Marshal(creds)
	resp, err := http.Post(url+"/issue-credential", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res []agentstub.Result
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, res
}

func cred(corp string) agentstub.Credential {
	return agentstub.Credential{Schema: "registration.bc_registries", Version: "1.0.42", Attributes: map[string]any{"registration_id": corp}}
}

func TestAcceptsAndRecords(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{})
	code, res := post(t, s.URL, []agentstub.Credential{cred("BC0000001"), cred("BC0000002"), {Schema: "", Version: "1"}})
	if code != 200 || len(res) != 3 || !res[0].Success || !res[1].Success || res[2].Success || res[0].Result == res[1].Result {
		t.Fatalf("answer %d %+v", code, res)
	}
	got := s.Credentials()
	if len(got) != 2 || got[1].Attributes["registration_id"] != "BC0000002" || s.Requests() != 1 {
		t.Fatalf("recorded %+v (%d requests)", got, s.Requests())
	}
}

func TestInjectedFailuresAreReproducible(t *testing.T) {
	pattern := func() []bool {
		s := testkit.Agent(t, agentstub.Options{ItemFailureRate: 0.5, Seed: 42})
		var out []bool
		for i := 0; i < 10; i++ {
			_, res := post(t, s.URL, []agentstub.Credential{cred("X")})
			out = append(out, res[0].Success)
		}
		return out
	}
	a, b := pattern(), pattern()
	fails := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different pattern: %v vs %v", a, b)
		}
		if !a[i] {
			fails++
		}
	}
	if fails == 0 || fails == 10 {
		t.Fatalf("failure rate 0.5 gave %d/10 failures", fails)
	}
	s := testkit.Agent(t, agentstub.Options{FailureRate: 1})
	if code, _ := post(t, s.URL, []agentstub.Credential{cred("Y")}); code != 500 || len(s.Credentials()) != 0 {
		t.Fatalf("whole-request failure: %d, recorded %d", code, len(s.Credentials()))
	}
}

func TestWholeRequestFailuresAreReproducible(t *testing.T) {
	pattern := func() ([]int, int, int) {
		s := testkit.Agent(t, agentstub.Options{FailureRate: 0.3, Seed: 7})
		var codes []int
		for i := 0; i < 20; i++ {
			code, _ := post(t, s.URL, []agentstub.Credential{cred("BC" + string(rune('A'+i)))})
			codes = append(codes, code)
		}
		return codes, s.Requests(), len(s.Credentials())
	}
	a, reqs, recorded := pattern()
	b, _, _ := pattern()
	ok := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different answers: %v vs %v", a, b)
		}
		if a[i] != 200 && a[i] != 500 {
			t.Fatalf("request %d answered %d", i, a[i])
		}
		if a[i] == 200 {
			ok++
		}
	}
	// A failed request is still a request, and records nothing.
	if reqs != 20 || recorded != ok || ok == 0 || ok == 20 {
		t.Fatalf("requests=%d recorded=%d ok=%d", reqs, recorded, ok)
	}
}

func TestItemFailuresKeepOrderAndRecordOnlySuccesses(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{ItemFailureRate: 0.5, Seed: 3})
	batch := []agentstub.Credential{cred("BC1"), cred("BC2"), cred("BC3"), cred("BC4"), cred("BC5"), cred("BC6")}
	code, res := post(t, s.URL, batch)
	if code != 200 || len(res) != len(batch) {
		t.Fatalf("answer %d %+v", code, res)
	}
	var want []string
	ids := map[string]bool{}
	for i, r := range res {
		if r.Success {
			want = append(want, batch[i].Attributes["registration_id"].(string))
			if r.Result == "" || ids[r.Result] {
				t.Fatalf("credential id %q empty or repeated in %+v", r.Result, res)
			}
			ids[r.Result] = true
		} else if r.Result == "" {
			t.Fatalf("a failed item should say why: %+v", res)
		}
	}
	var got []string
	for _, c := range s.Credentials() {
		got = append(got, c.Attributes["registration_id"].(string))
	}
	if len(want) == 0 || len(want) == len(batch) || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("recorded %v, want the successes %v", got, want)
	}
}

func TestStatusLatencyAndBadBodies(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{Latency: 50 * time.Millisecond})
	resp, err := http.Get(s.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ready":true`) {
		t.Fatalf("status = %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	if code, res := post(t, s.URL, []agentstub.Credential{cred("BC9")}); code != 200 || !res[0].Success {
		t.Fatalf("post = %d %+v", code, res)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered in %v, before the configured latency", d)
	}
	resp, err = http.Post(s.URL+"/issue-credential", "application/json", strings.NewReader(`{"schema":"not an array"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || len(s.Credentials()) != 1 {
		t.Fatalf("object body = %d, recorded %d", resp.StatusCode, len(s.Credentials()))
	}
}

func TestStart(t *testing.T) {
	s := agentstub.New(agentstub.Options{})
	url, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if url != s.URL || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url %q, Stub.URL %q", url, s.URL)
	}
	if code, res := post(t, url, []agentstub.Credential{cred("BC10")}); code != 200 || !res[0].Success || s.Requests() != 1 {
		t.Fatalf("post = %d %+v", code, res)
	}
}

// Slow mode: each credential takes its time, one after another; a caller
// that gives up before the answer still gets every credential issued (as
// the real controller goes on), and the request is recorded unanswered.
func TestPerCredentialSlowModeIssuesAfterTheCallerLeft(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{PerCredential: 100 * time.Millisecond})
	body, _ := json.Marshal([]agentstub.Credential{cred("A1"), cred("A2"), cred("A3")})
	client := &http.Client{Timeout: 150 * time.Millisecond}
	start := time.Now()
	if _, err := client.Post(s.URL+"/issue-credential", "application/json", bytes.NewReader(body)); err == nil {
		t.Fatal("a request of 3 credentials at 100 ms each answered within 150 ms")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Credentials()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(s.Credentials()); n != 3 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("%d credentials issued after %v, want 3 after at least 300 ms", n, time.Since(start))
	}
	time.Sleep(50 * time.Millisecond)
	log := s.Log()
	if len(log) != 1 || log[0].Answered || log[0].Status != 200 {
		t.Fatalf("log %+v", log)
	}
	for k, n := range s.Issued() {
		if n != 1 {
			t.Errorf("issued %d times: %s", n, k)
		}
	}
	// Fast again: the next request is answered at once.
	s.SetOptions(agentstub.Options{})
	if code, res := post(t, s.URL, []agentstub.Credential{cred("A4")}); code != 200 || !res[0].Success {
		t.Fatalf("post = %d %+v", code, res)
	}
}

// Drop mode: the credentials are issued and the connection closes without
// an answer; a failure status other than 500 is answered as set.
func TestDropAfterIssuingAndFailureStatus(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{DropRate: 1})
	body, _ := json.Marshal([]agentstub.Credential{cred("D1"), cred("D2")})
	resp, err := http.Post(s.URL+"/issue-credential", "application/json", bytes.NewReader(body))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %d", resp.StatusCode)
	}
	if n := len(s.Credentials()); n != 2 {
		t.Fatalf("%d credentials issued before the drop, want 2", n)
	}
	if log := s.Log(); len(log) != 1 || !log[0].Dropped || log[0].Answered {
		t.Fatalf("log %+v", log)
	}
	f := testkit.Agent(t, agentstub.Options{FailureRate: 1, FailureStatus: 503})
	if code, _ := post(t, f.URL, []agentstub.Credential{cred("D3")}); code != 503 || len(f.Credentials()) != 0 {
		t.Fatalf("failure answered %d, issued %d", code, len(f.Credentials()))
	}
}
