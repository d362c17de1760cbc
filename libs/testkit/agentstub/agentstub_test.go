package agentstub_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

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
