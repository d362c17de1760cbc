package testkit

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every schema's examples are valid payloads (the proto README promises
// it), and every schema names the subject it is for.
func TestEventSchemaExamplesValidate(t *testing.T) {
	all, err := EventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	subjects := 0
	for _, s := range all {
		if s.File == "envelope.schema.json" {
			continue
		}
		if s.Subject == "" {
			t.Errorf("%s: no x-subject", s.File)
			continue
		}
		subjects++
		if len(s.Examples) == 0 {
			t.Errorf("%s: no examples", s.File)
		}
		for i, ex := range s.Examples {
			raw, _ := json.Marshal(ex)
			if err := s.Validate(raw); err != nil {
				t.Errorf("%s example %d: %v", s.File, i, err)
			}
		}
	}
	if subjects < 6 {
		t.Fatalf("%d event schemas with a subject, want the 6 of the catalog", subjects)
	}
}

func TestSchemaForSubject(t *testing.T) {
	for subject, file := range map[string]string{
		"archive.stored.gcn_notices":      "archive.stored.schema.json",
		"hedera.records.downloaded.0_0_3": "hedera.records.downloaded.schema.json",
		"hedera.records.parsed.0_0_3":     "hedera.records.parsed.schema.json",
		"paper-engine.meta.orders.change": "paper-engine.meta.orders.change.schema.json",
		"bcreg.events.processed":          "bcreg.events.processed.schema.json",
		"bcreg.credentials.posted":        "bcreg.credentials.posted.schema.json",
	} {
		s, err := SchemaFor(subject)
		if err != nil {
			t.Errorf("%s: %v", subject, err)
			continue
		}
		if s.File != file {
			t.Errorf("%s: schema %s, want %s", subject, s.File, file)
		}
	}
	for _, subject := range []string{"archive.stored", "archive.stored.a.b", "paper-engine.meta.orders", "nope"} {
		if s, err := SchemaFor(subject); err == nil {
			t.Errorf("%s matched %s, want no schema", subject, s.File)
		}
	}
}

// The validator refuses what the contracts forbid: a missing envelope
// field, an unknown field, a wrong type, a bad format.
func TestEventSchemaRefusesDrift(t *testing.T) {
	s, err := SchemaFor("paper-engine.meta.orders.change")
	if err != nil {
		t.Fatal(err)
	}
	good := `{"v":1,"ds":"paper-engine","id":"orders","host":"h","utcts":"2024-01-01T00:00:00.000000","stats":{"orders":{"AMEND":1,"CREATE":2,"REMOVE":0}},"max_event_id":7}`
	if err := s.Validate([]byte(good)); err != nil {
		t.Fatalf("valid payload refused: %v", err)
	}
	for name, bad := range map[string]string{
		"no host":       strings.Replace(good, `"host":"h",`, ``, 1),
		"unknown field": strings.Replace(good, `"v":1,`, `"v":1,"extra":true,`, 1),
		"count as text": strings.Replace(good, `"AMEND":1`, `"AMEND":"1"`, 1),
		"utcts format":  strings.Replace(good, `.000000"`, `Z"`, 1),
		"version 2":     strings.Replace(good, `"v":1`, `"v":2`, 1),
		"not json":      good[:20],
	} {
		if err := s.Validate([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
	a, err := SchemaFor("archive.stored.t")
	if err != nil {
		t.Fatal(err)
	}
	bad := `{"v":1,"host":"h","utcts":"2024-01-01T00:00:00.000000","uuid":"not-a-uuid","topic":"t","partition":0,"offset":1,"timestamp_ms":1,"bucket":"b","key":"k","size":1}`
	if err := a.Validate([]byte(bad)); err == nil {
		t.Error("archive.stored with a malformed uuid accepted")
	}
}
