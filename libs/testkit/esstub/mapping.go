package esstub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Composable index templates and the part of mapping enforcement our
// templates rely on. Elasticsearch parses every document against its
// index's mapping on the shard, so a refused document fails its own bulk
// item with status 400; the stand-in does the same, with the error types
// ES 8 gives (strict_dynamic_mapping_exception, document_parsing_exception).

type indexTemplate struct {
	body     map[string]any // as put, for GET
	patterns []string
	priority int64
}

// templateFor returns the highest-priority template whose patterns match
// name, as index creation picks it. Callers hold s.mu.
func (s *Server) templateFor(name string) *indexTemplate {
	var best *indexTemplate
	for _, t := range s.templates {
		for _, p := range t.patterns {
			if globMatch(p, name) && (best == nil || t.priority > best.priority) {
				best = t
			}
		}
	}
	return best
}

// newIndex builds an index from the matching template (if any) and the
// create request's own mappings and settings, which win over the
// template's, as in Elasticsearch. Callers hold s.mu.
func (s *Server) newIndex(name string, mappings, settings map[string]any) *index {
	ix := &index{docs: map[string]*doc{}, created: time.Now()}
	var tm, ts map[string]any
	if t := s.templateFor(name); t != nil {
		tpl, _ := t.body["template"].(map[string]any)
		tm, _ = tpl["mappings"].(map[string]any)
		ts, _ = tpl["settings"].(map[string]any)
	}
	ix.mappings = mergeMappings(tm, mappings)
	ix.settings = map[string]string{}
	flattenSettings("index", ts, ix.settings)
	flattenSettings("index", settings, ix.settings)
	return ix
}

func mergeMappings(base, over map[string]any) map[string]any {
	if base == nil && over == nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if k == "properties" {
			props := map[string]any{}
			if bp, ok := out[k].(map[string]any); ok {
				for pk, pv := range bp {
					props[pk] = pv
				}
			}
			if op, ok := v.(map[string]any); ok {
				for pk, pv := range op {
					props[pk] = pv
				}
			}
			out[k] = props
			continue
		}
		out[k] = v
	}
	return out
}

// flattenSettings stores settings the way Elasticsearch returns them:
// dotted keys under "index.", every value a string.
func flattenSettings(prefix string, in map[string]any, out map[string]string) {
	for k, v := range in {
		key := prefix + "." + k
		if prefix == "index" && strings.HasPrefix(k, "index.") {
			key = k
		}
		switch v := v.(type) {
		case map[string]any:
			flattenSettings(key, v, out)
		case nil:
			delete(out, key)
		default:
			out[key] = fmt.Sprint(v)
		}
	}
}

// settingsBody nests flat settings back into objects, with the defaults
// a real index reports.
func (ix *index) settingsBody(name string) map[string]any {
	flat := map[string]string{
		"index.number_of_shards":   "1",
		"index.number_of_replicas": "1",
		"index.provided_name":      name,
		"index.uuid":               "esstub-" + name,
		"index.creation_date":      strconv.FormatInt(ix.created.UnixMilli(), 10),
		"index.version.created":    "8534000",
	}
	for k, v := range ix.settings {
		flat[k] = v
	}
	out := map[string]any{}
	for k, v := range flat {
		m := out
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			next, _ := m[p].(map[string]any)
			if next == nil {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

func (ix *index) mappingsBody() map[string]any {
	if ix.mappings == nil {
		return map[string]any{}
	}
	return ix.mappings
}

// globMatch matches Elasticsearch's simple wildcard patterns ('*' only).
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// globsOverlap says whether some name matches both patterns, the check
// Elasticsearch makes before it accepts two templates of equal priority.
func globsOverlap(a, b string) bool {
	memo := map[[2]int]bool{}
	var f func(i, j int) bool
	f = func(i, j int) bool {
		if i == len(a) && j == len(b) {
			return true
		}
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var r bool
		switch {
		case i < len(a) && a[i] == '*':
			r = f(i+1, j) || (j < len(b) && f(i, j+1))
		case j < len(b) && b[j] == '*':
			r = f(i, j+1) || (i < len(a) && f(i+1, j))
		case i < len(a) && j < len(b) && a[i] == b[j]:
			r = f(i+1, j+1)
		}
		memo[key] = r
		return r
	}
	return f(0, 0)
}

// indexTemplates serves /_index_template[/<name>].
func (s *Server) indexTemplates(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		s.putTemplate(w, r, name)
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		var names []string
		for n := range s.templates {
			if name == "" || globMatch(name, n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		list := make([]any, 0, len(names))
		for _, n := range names {
			list = append(list, map[string]any{"name": n, "index_template": s.templates[n].body})
		}
		s.mu.Unlock()
		if len(names) == 0 && name != "" && !strings.Contains(name, "*") {
			b := errorBody("resource_not_found_exception", "index template matching ["+name+"] not found")
			b["status"] = 404
			reply(w, 404, b)
			return
		}
		reply(w, 200, map[string]any{"index_templates": list})
	case http.MethodDelete:
		s.mu.Lock()
		_, ok := s.templates[name]
		delete(s.templates, name)
		s.mu.Unlock()
		if !ok {
			b := errorBody("index_template_missing_exception", "index_template ["+name+"] missing")
			b["status"] = 404
			reply(w, 404, b)
			return
		}
		reply(w, 200, map[string]any{"acknowledged": true})
	default:
		reply(w, 405, errorBody("illegal_argument_exception", "method not allowed"))
	}
}

func (s *Server) putTemplate(w http.ResponseWriter, r *http.Request, name string) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		reply(w, 400, errorBody("parse_exception", err.Error()))
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		reply(w, 400, errorBody("x_content_parse_exception", "[1:1] failed to parse index template: "+err.Error()))
		return
	}
	t := &indexTemplate{body: body}
	switch p := body["index_patterns"].(type) {
	case string:
		t.patterns = []string{p}
	case []any:
		for _, v := range p {
			if s, ok := v.(string); ok {
				t.patterns = append(t.patterns, s)
			}
		}
	}
	if len(t.patterns) == 0 {
		reply(w, 400, errorBody("action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"))
		return
	}
	if p, ok := body["priority"].(float64); ok {
		t.priority = int64(p)
	}
	if tpl, ok := body["template"].(map[string]any); ok {
		if m, ok := tpl["mappings"].(map[string]any); ok {
			if err := checkMapping("", m); err != "" {
				reply(w, 400, errorBody("mapper_parsing_exception", "Failed to parse mapping: "+err))
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Query().Get("create") == "true" && s.templates[name] != nil {
		reply(w, 400, errorBody("illegal_argument_exception", "index template ["+name+"] already exists"))
		return
	}
	for other, o := range s.templates {
		if other == name || o.priority != t.priority {
			continue
		}
		for _, a := range t.patterns {
			for _, b := range o.patterns {
				if globsOverlap(a, b) {
					reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf(
						"index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s => %v) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority",
						name, t.patterns, other, other, o.patterns, t.priority)))
					return
				}
			}
		}
	}
	s.templates[name] = t
	reply(w, 200, map[string]any{"acknowledged": true})
}

// Parameters each mapped type accepts, so a typo in a template fails its
// PUT as it does in Elasticsearch. Types not listed accept anything.
var scalarParams = []string{"type", "index", "doc_values", "store", "null_value", "copy_to", "meta", "fields", "boost", "ignore_malformed", "script", "on_script_error"}

var typeParams = map[string][]string{
	"keyword":    append([]string{"ignore_above", "normalizer", "eager_global_ordinals", "norms", "similarity", "index_options", "split_queries_on_whitespace", "time_series_dimension"}, scalarParams...),
	"long":       append([]string{"coerce", "time_series_dimension", "time_series_metric"}, scalarParams...),
	"integer":    append([]string{"coerce", "time_series_dimension", "time_series_metric"}, scalarParams...),
	"date":       append([]string{"format", "locale"}, scalarParams...),
	"date_nanos": append([]string{"format", "locale"}, scalarParams...),
	"boolean":    scalarParams,
	"binary":     {"type", "doc_values", "store", "meta", "copy_to"},
	"object":     {"type", "properties", "dynamic", "enabled", "subobjects"},
	"nested":     {"type", "properties", "dynamic", "include_in_parent", "include_in_root"},
}

// checkMapping reports the first problem in a mapping's properties, as
// "No handler for type …" or "unknown parameter …", or "".
func checkMapping(path string, m map[string]any) string {
	props, _ := m["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		full := n
		if path != "" {
			full = path + "." + n
		}
		f, ok := props[n].(map[string]any)
		if !ok {
			return fmt.Sprintf("Expected map for property [fields] on field [%s] but got a class java.lang.String", full)
		}
		typ, _ := f["type"].(string)
		if typ == "" {
			typ = "object"
		}
		allowed, known := typeParams[typ]
		if !known {
			if _, other := otherTypes[typ]; !other {
				return fmt.Sprintf("No handler for type [%s] declared on field [%s]", typ, n)
			}
			continue
		}
		for p := range f {
			if !contains(allowed, p) {
				return fmt.Sprintf("unknown parameter [%s] on mapper [%s] of type [%s]", p, full, typ)
			}
		}
		if typ == "object" || typ == "nested" {
			if e := checkMapping(full, f); e != "" {
				return e
			}
		}
	}
	return ""
}

var otherTypes = map[string]struct{}{"text": {}, "short": {}, "byte": {}, "double": {}, "float": {}, "half_float": {},
	"scaled_float": {}, "unsigned_long": {}, "ip": {}, "flattened": {}, "wildcard": {}, "constant_keyword": {}, "match_only_text": {}}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// --- document validation -------------------------------------------------

// node is one parsed JSON value with its position, so errors can say
// where, as Elasticsearch's "[line:column]" prefix does.
type node struct {
	col   int64 // 1-based column on the (single) line of the source
	value any   // string, json.Number, bool, nil, []*node, *object
}

type object struct {
	keys []string
	vals []*node
}

func parseNode(dec *json.Decoder) (*node, error) {
	off := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	n := &node{col: off + 1}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := parseNode(dec)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, kt.(string))
				o.vals = append(o.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			n.value = o
		case '[':
			var items []*node
			for dec.More() {
				v, err := parseNode(dec)
				if err != nil {
					return nil, err
				}
				items = append(items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			n.value = items
		}
	default:
		n.value = t
	}
	return n, nil
}

// docError is a refused document: its ES error type, reason and cause.
type docError struct {
	typ, reason         string
	causeTyp, causeText string
}

func (e *docError) body(index string) map[string]any {
	b := map[string]any{"type": e.typ, "reason": e.reason, "index": index}
	if e.causeTyp != "" {
		b["caused_by"] = map[string]any{"type": e.causeTyp, "reason": e.causeText}
	}
	return b
}

// validate checks source against mappings; nil mappings accept anything.
func validate(mappings map[string]any, id string, source []byte) *docError {
	if mappings == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(source))
	dec.UseNumber()
	root, err := parseNode(dec)
	if err != nil {
		return &docError{typ: "document_parsing_exception", reason: "[1:1] failed to parse: " + err.Error()}
	}
	obj, ok := root.value.(*object)
	if !ok {
		return &docError{typ: "document_parsing_exception", reason: "[1:1] failed to parse: root is not an object"}
	}
	v := validator{id: id}
	return v.object("", mappings, dynamicOf(mappings, "true"), obj)
}

type validator struct{ id string }

func dynamicOf(m map[string]any, inherited string) string {
	switch d := m["dynamic"].(type) {
	case string:
		return d
	case bool:
		return strconv.FormatBool(d)
	}
	return inherited
}

func (v validator) object(path string, m map[string]any, dynamic string, o *object) *docError {
	props, _ := m["properties"].(map[string]any)
	for i, k := range o.keys {
		val := o.vals[i]
		full := k
		if path != "" {
			full = path + "." + k
		}
		f, ok := props[k].(map[string]any)
		if !ok {
			if dynamic == "strict" {
				within := path
				if within == "" {
					within = "_doc"
				}
				return &docError{typ: "strict_dynamic_mapping_exception",
					reason: fmt.Sprintf("[1:%d] mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", val.col, k, within)}
			}
			// dynamic true/false/runtime: accepted; the stand-in does not
			// grow the mapping.
			continue
		}
		if err := v.field(full, f, dynamic, val); err != nil {
			return err
		}
	}
	return nil
}

func (v validator) field(path string, f map[string]any, dynamic string, n *node) *docError {
	if n.value == nil {
		return nil // null is "no value" for every type
	}
	typ, _ := f["type"].(string)
	if typ == "" {
		typ = "object"
	}
	if typ == "object" || typ == "nested" {
		if enabled, ok := f["enabled"].(bool); ok && !enabled {
			return nil // not parsed at all: only kept in _source
		}
		switch val := n.value.(type) {
		case *object:
			return v.object(path, f, dynamicOf(f, dynamic), val)
		case []*node:
			for _, item := range val {
				if err := v.field(path, f, dynamic, item); err != nil {
					return err
				}
			}
			return nil
		default:
			name := path[strings.LastIndex(path, ".")+1:]
			return &docError{typ: "document_parsing_exception",
				reason: fmt.Sprintf("[1:%d] object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", n.col, path, name)}
		}
	}
	if items, ok := n.value.([]*node); ok {
		// Any field holds an array of its values.
		for _, item := range items {
			if err := v.field(path, f, dynamic, item); err != nil {
				return err
			}
		}
		return nil
	}
	causeTyp, cause := checkValue(typ, f, n.value)
	if cause == "" {
		return nil
	}
	return &docError{typ: "document_parsing_exception",
		reason: fmt.Sprintf("[1:%d] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'",
			n.col, path, typ, v.id, preview(n.value)),
		causeTyp: causeTyp, causeText: cause}
}

func preview(v any) string {
	switch v := v.(type) {
	case *object:
		parts := make([]string, len(v.keys))
		for i, k := range v.keys {
			parts[i] = k + "=" + preview(v.vals[i].value)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(v)
	}
}

// checkValue returns the cause's type and text when value does not fit
// the scalar type, or "" when it does.
func checkValue(typ string, f map[string]any, value any) (string, string) {
	if _, isObj := value.(*object); isObj {
		return "illegal_state_exception", "Can't get text on a START_OBJECT"
	}
	coerce := true
	if c, ok := f["coerce"].(bool); ok {
		coerce = c
	}
	switch typ {
	case "keyword", "text", "wildcard", "match_only_text", "constant_keyword":
		return "", "" // strings, and numbers and booleans as their text
	case "long", "integer", "short", "byte":
		lo, hi := rangeOf(typ)
		var text string
		switch v := value.(type) {
		case json.Number:
			text = string(v)
		case string:
			if !coerce {
				return "illegal_argument_exception", "Current token (VALUE_STRING) not numeric, can not use numeric value accessors"
			}
			if v == "" {
				return "", "" // an empty string is a null value
			}
			text = strings.TrimSpace(v)
		case bool:
			return "illegal_argument_exception", fmt.Sprintf("Current token (VALUE_%s) not numeric, can not use numeric value accessors", strings.ToUpper(strconv.FormatBool(v)))
		}
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			if i < lo || i > hi {
				return "illegal_argument_exception", fmt.Sprintf("Value [%s] is out of range for %s", text, article(typ))
			}
			return "", ""
		}
		r, ok := new(big.Float).SetString(text)
		if !ok {
			return "illegal_argument_exception", fmt.Sprintf("For input string: \"%s\"", text)
		}
		if !coerce {
			if _, acc := r.Int64(); acc != big.Exact {
				return "illegal_argument_exception", fmt.Sprintf("Value [%s] has a decimal part", text)
			}
		}
		// Fractions are truncated (coerce); the integer part must fit.
		i, acc := r.Int64()
		if (acc != big.Exact && (i == math.MinInt64 || i == math.MaxInt64)) || i < lo || i > hi {
			return "illegal_argument_exception", fmt.Sprintf("Value [%s] is out of range for %s", text, article(typ))
		}
		return "", ""
	case "double", "float", "half_float", "scaled_float", "unsigned_long":
		switch v := value.(type) {
		case json.Number:
			return "", ""
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil || v == "" {
				return "", ""
			}
			return "number_format_exception", fmt.Sprintf("For input string: \"%s\"", v)
		}
		return "illegal_argument_exception", "Current token not numeric, can not use numeric value accessors"
	case "boolean":
		switch v := value.(type) {
		case bool:
			return "", ""
		case string:
			if v == "true" || v == "false" || v == "" {
				return "", ""
			}
			return "illegal_argument_exception", fmt.Sprintf("Failed to parse value [%s] as only [true] or [false] are allowed.", v)
		}
		return "illegal_argument_exception", fmt.Sprintf("Failed to parse value [%v] as only [true] or [false] are allowed.", value)
	case "binary":
		v, ok := value.(string)
		if !ok {
			return "json_parse_exception", "Current token (VALUE_NUMBER_INT) not VALUE_STRING or VALUE_EMBEDDED_OBJECT, can not access as binary"
		}
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return "json_parse_exception", "Failed to decode VALUE_STRING as base64 (MIME-NO-LINEFEEDS): " + err.Error()
		}
		return "", ""
	case "date", "date_nanos":
		return checkDate(typ, value)
	}
	return "", ""
}

func rangeOf(typ string) (int64, int64) {
	switch typ {
	case "integer":
		return math.MinInt32, math.MaxInt32
	case "short":
		return math.MinInt16, math.MaxInt16
	case "byte":
		return math.MinInt8, math.MaxInt8
	}
	return math.MinInt64, math.MaxInt64
}

func article(typ string) string {
	if typ == "integer" {
		return "an integer"
	}
	return "a " + typ
}

// Layouts of the default date format, strict_date_optional_time (and its
// _nanos variant), that our documents and tests use; epoch_millis for numbers.
var dateLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
	"2006-01",
	"2006",
}

func checkDate(typ string, value any) (string, string) {
	var t time.Time
	switch v := value.(type) {
	case json.Number:
		ms, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return "illegal_argument_exception", fmt.Sprintf("failed to parse date field [%s]", v)
		}
		t = time.UnixMilli(int64(ms)).UTC()
	case string:
		ok := false
		for _, l := range dateLayouts {
			if p, err := time.Parse(l, v); err == nil {
				t, ok = p, true
				break
			}
		}
		if !ok {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				t, ok = time.UnixMilli(ms).UTC(), true
			}
		}
		if !ok {
			f := "strict_date_optional_time||epoch_millis"
			if typ == "date_nanos" {
				f = "strict_date_optional_time_nanos||epoch_millis"
			}
			return "illegal_argument_exception", fmt.Sprintf("failed to parse date field [%s] with format [%s]", v, f)
		}
	default:
		return "illegal_argument_exception", fmt.Sprintf("failed to parse date field [%v]", value)
	}
	if typ == "date_nanos" {
		if t.Before(time.Unix(0, 0)) {
			return "illegal_argument_exception", fmt.Sprintf("date[%s] is before the epoch in 1970 and cannot be stored in nanosecond resolution", t.Format(time.RFC3339Nano))
		}
		if t.After(time.Unix(0, math.MaxInt64)) {
			return "illegal_argument_exception", fmt.Sprintf("date[%s] is after 2262-04-11T23:47:16.854775807 and cannot be stored in nanosecond resolution", t.Format(time.RFC3339Nano))
		}
	}
	return "", ""
}
