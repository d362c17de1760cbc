// Package status renders the event processor's status: the original's
// `status` lines (per stage processed, outstanding, errors and the most
// recent error rows), the same as JSON, and the /status web page that
// replaces the original's Mara console (counts, posting rate, last runs).
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"

	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/model"
)

// Text prints counts as the original's status printed them:
//
//	BC_REG : Table: <table> Processed: <n> Outstanding: <m>
//	BC_REG :        <table> Process Errors: <k>
//
// followed, when k > 0, by "       Recent errors:" and the rows (as one
// JSON array; the original printed a Python list of dicts). Runs follow
// under "Last runs:" when there are any.
func Text(w io.Writer, counts []epdb.StageCounts, runs []epdb.Run) error {
	for _, s := range counts {
		if _, err := fmt.Fprintf(w, "%s : Table: %s Processed: %d Outstanding: %d\n%s :        %s Process Errors: %d\n",
			model.System, s.Table, s.Processed, s.Outstanding, model.System, s.Table, s.Errors); err != nil {
			return err
		}
		if s.Errors > 0 {
			b, err := json.Marshal(s.Recent)
			if err != nil {
				return fmt.Errorf("render recent errors of %s: %w", s.Table, err)
			}
			if _, err := fmt.Fprintf(w, "       Recent errors:\n%s\n", b); err != nil {
				return err
			}
		}
	}
	if len(runs) > 0 {
		if _, err := fmt.Fprintln(w, "Last runs:"); err != nil {
			return err
		}
		for _, r := range runs {
			if _, err := fmt.Fprintf(w, "  %-12s %s  %-10s corps %d  generated %d  posted %d  failed %d%s\n",
				r.Verb, r.Started.UTC().Format(time.RFC3339), took(r), r.Corps, r.Generated, r.Posted, r.Failed, errSuffix(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

func took(r epdb.Run) string {
	if r.Finished.IsZero() {
		return "running"
	}
	return r.Finished.Sub(r.Started).Round(time.Second).String()
}

func errSuffix(r epdb.Run) string {
	if r.Err == "" {
		return ""
	}
	return "  error: " + r.Err
}

// Snapshot is everything the page and `status --json` show.
type Snapshot struct {
	System  string      `json:"system"`
	At      time.Time   `json:"at"`
	Stages  []Stage     `json:"stages"`
	Posting PostingRate `json:"posting"`
	Runs    []RunJSON   `json:"runs"`
}

// Stage is one table's counts.
type Stage struct {
	Table        string           `json:"table"`
	Processed    int64            `json:"processed"`
	Outstanding  int64            `json:"outstanding"`
	Errors       int64            `json:"errors"`
	RecentErrors []map[string]any `json:"recent_errors"`
}

// PostingRate is the controller's answers over the last window.
type PostingRate struct {
	WindowSeconds float64 `json:"window_seconds"`
	Posted        int64   `json:"posted"`
	Failed        int64   `json:"failed"`
	PerMinute     float64 `json:"per_minute"`
}

// RunJSON is one run as JSON shows it.
type RunJSON struct {
	Verb      string     `json:"verb"`
	Started   time.Time  `json:"started"`
	Finished  *time.Time `json:"finished,omitempty"`
	Corps     int64      `json:"corps"`
	Generated int64      `json:"generated"`
	Posted    int64      `json:"posted"`
	Failed    int64      `json:"failed"`
	Error     string     `json:"error,omitempty"`
}

// NewSnapshot assembles a snapshot from the queries' results.
func NewSnapshot(at time.Time, counts []epdb.StageCounts, runs []epdb.Run, rate PostingRate) Snapshot {
	s := Snapshot{System: model.System, At: at.UTC(), Posting: rate, Stages: []Stage{}, Runs: []RunJSON{}}
	for _, c := range counts {
		recent := c.Recent
		if recent == nil {
			recent = []map[string]any{}
		}
		s.Stages = append(s.Stages, Stage{c.Table, c.Processed, c.Outstanding, c.Errors, recent})
	}
	for _, r := range runs {
		j := RunJSON{Verb: r.Verb, Started: r.Started.UTC(), Corps: r.Corps, Generated: r.Generated, Posted: r.Posted, Failed: r.Failed, Error: r.Err}
		if !r.Finished.IsZero() {
			f := r.Finished.UTC()
			j.Finished = &f
		}
		s.Runs = append(s.Runs, j)
	}
	return s
}

// JSON writes the snapshot, indented, for `status --json` and /status.json.
func JSON(w io.Writer, s Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// Options tune the page.
type Options struct {
	Refresh    time.Duration // how often the page reloads itself; default 10 s
	Runs       int           // last runs shown; default 10
	RateWindow time.Duration // posting rate window; default 5 minutes
}

func (o *Options) defaults() {
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.Runs <= 0 {
		o.Runs = 10
	}
	if o.RateWindow <= 0 {
		o.RateWindow = 5 * time.Minute
	}
}

// Take runs the status queries once.
func Take(ctx context.Context, db *epdb.DB, runs int, window time.Duration) (Snapshot, error) {
	now := time.Now()
	counts, err := db.Status(ctx, now)
	if err != nil {
		return Snapshot{}, err
	}
	rs, err := db.Runs(ctx, runs)
	if err != nil {
		return Snapshot{}, err
	}
	ok, failed, err := db.PostedSince(ctx, window)
	if err != nil {
		return Snapshot{}, err
	}
	rate := PostingRate{WindowSeconds: window.Seconds(), Posted: ok, Failed: failed,
		PerMinute: float64(ok+failed) / window.Minutes()}
	return NewSnapshot(now, counts, rs, rate), nil
}

// Handler serves /status (an HTML page without external assets that
// reloads itself) and /status.json from db.
func Handler(db *epdb.DB, opt Options) http.Handler {
	opt.defaults()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s, err := Take(r.Context(), db, opt.Runs, opt.RateWindow)
		if err != nil {
			http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := page.Execute(w, pageData{Snapshot: s, Refresh: int(opt.Refresh.Seconds())}); err != nil {
			// Headers are gone; the truncated page is all we can do.
			return
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		s, err := Take(r.Context(), db, opt.Runs, opt.RateWindow)
		if err != nil {
			http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = JSON(w, s)
	})
	return mux
}

type pageData struct {
	Snapshot
	Refresh int
}

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"rate": func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"took": func(r RunJSON) string {
		if r.Finished == nil {
			return "running"
		}
		return r.Finished.Sub(r.Started).Round(time.Second).String()
	},
	"row": func(m map[string]any) string {
		b, _ := json.Marshal(m)
		return string(b)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>registry-processor status</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th:first-child,td:first-child{text-align:left}
.err{color:#b00}
code{font-size:.85em;word-break:break-all}
</style></head>
<body>
<h1>registry-processor — {{.System}}</h1>
<p>As of <span id="at">{{when .At}}</span>; this page reloads every {{.Refresh}} s.</p>
<h2>Stages</h2>
<table id="stages">
<tr><th>Table</th><th>Processed</th><th>Outstanding</th><th>Errors</th></tr>
{{range .Stages}}<tr id="stage-{{.Table}}"><td>{{.Table}}</td><td id="{{.Table}}-processed">{{.Processed}}</td><td id="{{.Table}}-outstanding">{{.Outstanding}}</td><td id="{{.Table}}-errors"{{if .Errors}} class="err"{{end}}>{{.Errors}}</td></tr>
{{end}}</table>
<h2>Posting</h2>
<p>Last {{rate .Posting.WindowSeconds}} s: <span id="posted">{{.Posting.Posted}}</span> posted, <span id="post-failed">{{.Posting.Failed}}</span> failed — <span id="post-rate">{{rate .Posting.PerMinute}}</span> credentials per minute.</p>
<h2>Last runs</h2>
<table id="runs">
<tr><th>Verb</th><th>Started</th><th>Took</th><th>Corps</th><th>Generated</th><th>Posted</th><th>Failed</th><th>Error</th></tr>
{{range .Runs}}<tr class="run"><td>{{.Verb}}</td><td>{{when .Started}}</td><td>{{took .}}</td><td>{{.Corps}}</td><td>{{.Generated}}</td><td>{{.Posted}}</td><td>{{.Failed}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>
{{range .Stages}}{{if .RecentErrors}}<h2>Recent errors: {{.Table}}</h2>
<ul id="errors-{{.Table}}">{{range .RecentErrors}}<li><code>{{row .}}</code></li>{{end}}</ul>
{{end}}{{end}}
</body></html>
`))
