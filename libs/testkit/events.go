package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EventSchema is one compiled schema of proto/events/ with the subject
// pattern it names in x-subject ("archive.stored.<topic>").
type EventSchema struct {
	File     string // file name in proto/events/
	Subject  string // x-subject
	Examples []any  // the schema's own examples, as decoded JSON
	schema   *jsonschema.Schema
}

// Matches reports whether subject fits the schema's x-subject: tokens
// are compared one by one, and a <name> token stands for any one token.
func (s *EventSchema) Matches(subject string) bool {
	want, got := strings.Split(s.Subject, "."), strings.Split(subject, ".")
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		if strings.HasPrefix(w, "<") && strings.HasSuffix(w, ">") {
			if got[i] == "" {
				return false
			}
			continue
		}
		if w != got[i] {
			return false
		}
	}
	return true
}

// Validate checks payload (JSON) against the schema.
func (s *EventSchema) Validate(payload []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%s: payload is not JSON: %w", s.File, err)
	}
	if err := s.schema.Validate(inst); err != nil {
		return fmt.Errorf("%s: %w", s.File, err)
	}
	return nil
}

var (
	eventSchemasOnce sync.Once
	eventSchemas     []*EventSchema
	eventSchemasErr  error
)

// EventSchemas loads and compiles every schema in the repository's
// proto/events/ (found by walking up from the working directory to
// go.work), with format assertions on. Schemas $ref each other by their
// $id, so all are loaded together.
func EventSchemas() ([]*EventSchema, error) {
	eventSchemasOnce.Do(func() { eventSchemas, eventSchemasErr = loadEventSchemas() })
	return eventSchemas, eventSchemasErr
}

func loadEventSchemas() ([]*EventSchema, error) {
	dir, err := eventsDir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no *.schema.json in %s", dir)
	}
	sort.Strings(files)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	type loaded struct {
		file, id, subject string
		examples          []any
	}
	var all []loaded
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		var head struct {
			ID       string            `json:"$id"`
			Subject  string            `json:"x-subject"`
			Examples []json.RawMessage `json:"examples"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if head.ID == "" {
			return nil, fmt.Errorf("%s: no $id", filepath.Base(f))
		}
		if err := c.AddResource(head.ID, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		l := loaded{file: filepath.Base(f), id: head.ID, subject: head.Subject}
		for _, ex := range head.Examples {
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(ex))
			if err != nil {
				return nil, fmt.Errorf("%s: example: %w", l.file, err)
			}
			l.examples = append(l.examples, v)
		}
		all = append(all, l)
	}
	var out []*EventSchema
	for _, l := range all {
		sch, err := c.Compile(l.id)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", l.file, err)
		}
		out = append(out, &EventSchema{File: l.file, Subject: l.subject, Examples: l.examples, schema: sch})
	}
	return out, nil
}

// eventsDir is proto/events/ of the repository holding the working
// directory.
func eventsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "proto", "events"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory: cannot find proto/events/")
		}
		dir = parent
	}
}

// SchemaFor returns the schema whose x-subject matches subject.
func SchemaFor(subject string) (*EventSchema, error) {
	all, err := EventSchemas()
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Subject != "" && s.Matches(subject) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no schema in proto/events/ has an x-subject matching %q", subject)
}

// CheckEvent fails the test unless payload, published on subject, is
// valid against its schema in proto/events/. Every NATS payload a test
// sees goes through it, so code and contract cannot drift apart.
func CheckEvent(t testing.TB, subject string, payload []byte) {
	t.Helper()
	s, err := SchemaFor(subject)
	if err != nil {
		t.Fatalf("event on %s: %v", subject, err)
	}
	if err := s.Validate(payload); err != nil {
		t.Fatalf("event on %s breaks its contract: %v\npayload: %s", subject, err, payload)
	}
}
