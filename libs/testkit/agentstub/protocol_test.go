package agentstub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

func TestReadinessToggles(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{})
	probe := func() int {
		resp, err := http.Get(s.URL + "/readiness")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := probe(); c != 200 {
		t.Fatalf("new stub readiness = %d, want 200", c)
	}
	s.SetReady(false)
	if c := probe(); c != 503 {
		t.Fatalf("not ready = %d, want 503", c)
	}
	s.SetReady(true)
	if c := probe(); c != 200 || s.Probes() != 3 {
		t.Fatalf("ready again = %d, probes %d", c, s.Probes())
	}
}

func TestStallIssuesButLeavesCallerUnanswered(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{StallRate: 1, StallFor: 5 * time.Second})
	body, _ := json.Marshal([]agentstub.Credential{cred("BC0000042")})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/issue-credential", bytes.NewReader(body))
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a stalled request was answered %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	// The handler notices the hang-up asynchronously.
	deadline := time.Now().Add(2 * time.Second)
	for {
		log := s.Log()
		if len(log) == 1 && log[0].Stalled && !log[0].Answered {
			if len(log[0].Results) != 1 || !log[0].Results[0].Success || !strings.Contains(log[0].Results[0].Result, "-4000-8000-") {
				t.Fatalf("stalled request's results %+v", log[0].Results)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %+v", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.Credentials(); len(got) != 1 || got[0].Attributes["registration_id"] != "BC0000042" {
		t.Fatalf("a stalled request still issues: %+v", got)
	}
}

func TestMisanswers(t *testing.T) {
	s := testkit.Agent(t, agentstub.Options{})
	kinds := []agentstub.Misanswer{agentstub.AnswerShort, agentstub.AnswerLong, agentstub.AnswerObject, agentstub.AnswerGarbage, agentstub.AnswerBadItem}
	for _, k := range kinds {
		s.Misanswer(k, 1)
	}
	three := []agentstub.Credential{cred("A"), cred("B"), cred("C")}
	body, _ := json.Marshal(three)
	var got []string
	for range kinds {
		resp, err := http.Post(s.URL+"/issue-credential", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("misanswer status %d", resp.StatusCode)
		}
		got = append(got, strings.TrimSpace(string(b)))
	}
	// Hand-derived: 2 results, 4 results, an object, HTML, three zeros.
	if strings.Count(got[0], `"success":true`) != 2 || strings.Count(got[1], `"success":true`) != 4 ||
		!strings.HasPrefix(got[2], "{") || !strings.HasPrefix(got[3], "<html>") || got[4] != "[0,0,0]" {
		t.Fatalf("answers %q", got)
	}
	// The queue is used up: the next answer is a proper one.
	code, res := post(t, s.URL, three)
	if code != 200 || len(res) != 3 || len(s.Credentials()) != 3 {
		t.Fatalf("after misanswers: %d %+v, issued %d", code, res, len(s.Credentials()))
	}
	log := s.Log()
	if len(log) != 6 || log[0].Misanswered != agentstub.AnswerShort || log[5].Misanswered != 0 || log[5].Seq != 6 || len(log[5].Credentials) != 3 {
		t.Fatalf("log %+v", log)
	}
}
