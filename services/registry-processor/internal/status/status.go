// Package status renders the event processor's status: the original's
// `status` lines (per stage processed, outstanding, errors and the most
// recent errors), the same as JSON, and the /status web page that
// replaces the original's Mara console (counts, posting rate, last runs,
// what is held, how far behind the source we are, the controller, the
// lock). The page's numbers come from a cache refreshed at most every few
// seconds by one set of queries, however many people look.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sync"
	"time"

	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
)

// Snapshot is everything the page and `status --json` show.
type Snapshot struct {
	System     string      `json:"system"`
	At         time.Time   `json:"at"`
	Stages     []Stage     `json:"stages"`
	Holds      epdb.Holds  `json:"held"`
	Source     *Lag        `json:"source,omitempty"`
	Controller *Controller `json:"controller,omitempty"`
	Lock       string      `json:"lock,omitempty"` // holding, waiting or idle (this process)
	Posting    PostingRate `json:"posting"`
	Runs       []RunJSON   `json:"runs"`
}

// Stage is one table's counts.
type Stage struct {
	Table        string          `json:"table"`
	Processed    int64           `json:"processed"`
	Outstanding  int64           `json:"outstanding"`
	Errors       int64           `json:"errors"`
	RecentErrors []epdb.ErrorRow `json:"recent_errors"`
}

// Lag is the source's newest event against our high-water mark.
type Lag struct {
	NewestEventID   int64     `json:"newest_event_id"`
	NewestEventDate time.Time `json:"newest_event_date"` // naive Pacific
	HighWaterID     int64     `json:"high_water_event_id"`
	HighWaterDate   time.Time `json:"high_water_event_date"` // naive Pacific
	Seconds         float64   `json:"lag_seconds"`           // newest minus high-water, 0 when caught up
	Error           string    `json:"error,omitempty"`
}

// Controller is the controller's readiness at the last look.
type Controller struct {
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
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
	Verb        string     `json:"verb"`
	Started     time.Time  `json:"started"`
	Finished    *time.Time `json:"finished,omitempty"`
	Corps       int64      `json:"corps"`
	Generated   int64      `json:"generated"`
	Posted      int64      `json:"posted"`
	Failed      int64      `json:"failed"`
	Unconfirmed int64      `json:"unconfirmed"`
	Note        string     `json:"note,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// Probes are the optional looks beyond the event-processor database.
type Probes struct {
	// Newest is the source's newest event at or before now (nil: no
	// source configured).
	Newest func(ctx context.Context) (id int64, at time.Time, err error)
	// Ready asks the controller's /readiness (nil: not asked).
	Ready func(ctx context.Context) error
	// Lock says whether this process holds or waits for the processor's
	// lock (nil: not shown).
	Lock func() string
}

// Options tune the status.
type Options struct {
	Refresh    time.Duration // how often the page reloads itself; default 10 s
	Every      time.Duration // the cache's lifetime; default 5 s
	Runs       int           // last runs shown; default 10
	RateWindow time.Duration // posting rate window; default 5 minutes
	Probes     Probes
}

func (o *Options) defaults() {
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Runs <= 0 {
		o.Runs = 10
	}
	if o.RateWindow <= 0 {
		o.RateWindow = 5 * time.Minute
	}
}

// Take runs the status queries and probes once.
func Take(ctx context.Context, db *epdb.DB, opt Options) (Snapshot, error) {
	opt.defaults()
	now := time.Now()
	s := Snapshot{System: model.System, At: now.UTC(), Stages: []Stage{}, Runs: []RunJSON{}}
	counts, err := db.Status(ctx, now)
	if err != nil {
		return Snapshot{}, err
	}
	for _, c := range counts {
		recent := c.Recent
		if recent == nil {
			recent = []epdb.ErrorRow{}
		}
		s.Stages = append(s.Stages, Stage{c.Table, c.Processed, c.Outstanding, c.Errors, recent})
	}
	if s.Holds, err = db.Held(ctx, pacific.Now()); err != nil {
		return Snapshot{}, err
	}
	ours, err := db.Ours(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if ours {
		rs, err := db.Runs(ctx, opt.Runs)
		if err != nil {
			return Snapshot{}, err
		}
		for _, r := range rs {
			j := RunJSON{Verb: r.Verb, Started: r.Started.UTC(), Corps: r.Corps, Generated: r.Generated, Posted: r.Posted,
				Failed: r.Failed, Unconfirmed: r.Unconfirmed, Note: r.Note, Error: r.Err}
			if !r.Finished.IsZero() {
				f := r.Finished.UTC()
				j.Finished = &f
			}
			s.Runs = append(s.Runs, j)
		}
	}
	ok, failed, err := db.PostedSince(ctx, opt.RateWindow)
	if err != nil {
		return Snapshot{}, err
	}
	s.Posting = PostingRate{WindowSeconds: opt.RateWindow.Seconds(), Posted: ok, Failed: failed,
		PerMinute: float64(ok+failed) / opt.RateWindow.Minutes()}
	if p := opt.Probes.Newest; p != nil {
		lag := &Lag{}
		hw, err := db.HighWater(ctx)
		if err == nil {
			lag.HighWaterID, lag.HighWaterDate = hw.EventID, hw.EventDate
			lag.NewestEventID, lag.NewestEventDate, err = p(ctx)
		}
		if err != nil {
			lag.Error = err.Error()
		} else if lag.NewestEventDate.After(lag.HighWaterDate) {
			lag.Seconds = lag.NewestEventDate.Sub(lag.HighWaterDate).Seconds()
		}
		s.Source = lag
	}
	if p := opt.Probes.Ready; p != nil {
		s.Controller = &Controller{Ready: true}
		if err := p(ctx); err != nil {
			s.Controller = &Controller{Error: err.Error()}
		}
	}
	if p := opt.Probes.Lock; p != nil {
		s.Lock = p()
	}
	return s, nil
}

// Cache holds the last snapshot and takes a new one at most every
// Options.Every: one set of queries, however many visitors.
type Cache struct {
	db  *epdb.DB
	opt Options

	mu   sync.Mutex
	snap Snapshot
	err  error
	at   time.Time
}

// NewCache returns an empty cache over db.
func NewCache(db *epdb.DB, opt Options) *Cache {
	opt.defaults()
	return &Cache{db: db, opt: opt}
}

// Get is the cached snapshot, refreshed first when it is older than
// Options.Every. Visitors meanwhile wait for that one refresh.
func (c *Cache) Get(ctx context.Context) (Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.opt.Every {
		return c.snap, c.err
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	c.snap, c.err = Take(qctx, c.db, c.opt)
	c.at = time.Now()
	return c.snap, c.err
}

// Text prints the snapshot as the original's status printed its counts:
//
//	BC_REG : Table: <table> Processed: <n> Outstanding: <m>
//	BC_REG :        <table> Process Errors: <k>
//
// followed, when k > 0, by "       Recent errors:" and one line per
// error row (corp, record, time, message); then what is held, the lag,
// and the last runs.
func Text(w io.Writer, s Snapshot) error {
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	for _, st := range s.Stages {
		p("%s : Table: %s Processed: %d Outstanding: %d\n%s :        %s Process Errors: %d\n",
			s.System, st.Table, st.Processed, st.Outstanding, s.System, st.Table, st.Errors)
		if st.Errors > 0 {
			p("       Recent errors:\n")
			for _, e := range st.RecentErrors {
				typ := ""
				if e.Type != "" {
					typ = " " + e.Type
				}
				p("         %s  corp %s%s  record %d  %s\n", e.At.Format(time.DateTime), e.Corp, typ, e.RecordID, e.Message)
			}
		}
	}
	p("Held: %d credentials unconfirmed (sent, never answered: `post --unconfirmed` sends them again); %d queue rows waiting for a future effective date",
		s.Holds.Unconfirmed, s.Holds.Future)
	if !s.Holds.NextRelease.IsZero() {
		p(" (next %s Pacific)", s.Holds.NextRelease.Format(time.DateTime))
	}
	p("\n")
	if l := s.Source; l != nil {
		if l.Error != "" {
			p("Source: %s\n", l.Error)
		} else {
			p("Source: newest event %d at %s; high-water mark %d at %s; behind by %s\n", l.NewestEventID, l.NewestEventDate.Format(time.DateTime),
				l.HighWaterID, l.HighWaterDate.Format(time.DateTime), time.Duration(l.Seconds*float64(time.Second)).Round(time.Second))
		}
	}
	if c := s.Controller; c != nil {
		if c.Ready {
			p("Controller: ready\n")
		} else {
			p("Controller: not ready: %s\n", c.Error)
		}
	}
	if len(s.Runs) > 0 {
		p("Last runs:\n")
		for _, r := range s.Runs {
			p("  %-12s %s  %-10s corps %d  generated %d  posted %d  failed %d  unconfirmed %d%s%s\n",
				r.Verb, r.Started.Format(time.RFC3339), took(r), r.Corps, r.Generated, r.Posted, r.Failed, r.Unconfirmed,
				suffix("note", r.Note), suffix("error", r.Error))
		}
	}
	return err
}

func took(r RunJSON) string {
	if r.Finished == nil {
		return "running"
	}
	return r.Finished.Sub(r.Started).Round(time.Second).String()
}

func suffix(what, s string) string {
	if s == "" {
		return ""
	}
	return "  " + what + ": " + s
}

// JSON writes the snapshot, indented, for `status --json` and /status.json.
func JSON(w io.Writer, s Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// Handler serves /status (an HTML page without external assets that
// reloads itself) and /status.json from the cache.
func Handler(c *Cache) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Get(r.Context())
		if err != nil {
			http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := page.Execute(w, pageData{Snapshot: s, Refresh: int(c.opt.Refresh.Seconds())}); err != nil {
			// Headers are gone; the truncated page is all we can do.
			return
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Get(r.Context())
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
	"rate":  func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"local": func(t time.Time) string { return t.Format(time.DateTime) },
	"took":  took,
	"secs":  func(f float64) string { return time.Duration(f * float64(time.Second)).Round(time.Second).String() },
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
</style></head>
<body>
<h1>registry-processor — {{.System}}</h1>
<p>As of <span id="at">{{when .At}}</span>; this page reloads every {{.Refresh}} s.</p>
<h2>Stages</h2>
<table id="stages">
<tr><th>Table</th><th>Processed</th><th>Outstanding</th><th>Errors</th></tr>
{{range .Stages}}<tr id="stage-{{.Table}}"><td>{{.Table}}</td><td id="{{.Table}}-processed">{{.Processed}}</td><td id="{{.Table}}-outstanding">{{.Outstanding}}</td><td id="{{.Table}}-errors"{{if .Errors}} class="err"{{end}}>{{.Errors}}</td></tr>
{{end}}</table>
<h2>Held</h2>
<p><span id="unconfirmed"{{if .Holds.Unconfirmed}} class="err"{{end}}>{{.Holds.Unconfirmed}}</span> credentials unconfirmed (sent, never answered; <code>post --unconfirmed</code> sends them again) —
<span id="future-dated">{{.Holds.Future}}</span> queue rows waiting for a future effective date{{if not .Holds.NextRelease.IsZero}} (next <span id="next-release">{{local .Holds.NextRelease}}</span> Pacific){{end}}.</p>
{{with .Source}}<h2>Source</h2>
{{if .Error}}<p class="err" id="source-error">{{.Error}}</p>{{else}}<p>Newest event <span id="newest-event">{{.NewestEventID}}</span> at {{local .NewestEventDate}}; high-water mark <span id="high-water">{{.HighWaterID}}</span> at {{local .HighWaterDate}}: behind by <span id="lag">{{secs .Seconds}}</span>.</p>{{end}}
{{end}}{{with .Controller}}<h2>Controller</h2>
<p id="controller">{{if .Ready}}ready{{else}}<span class="err">not ready: {{.Error}}</span>{{end}}</p>
{{end}}{{if .Lock}}<p>This process: <span id="lock">{{.Lock}}</span> the processor's lock.</p>
{{end}}<h2>Posting</h2>
<p>Last {{rate .Posting.WindowSeconds}} s: <span id="posted">{{.Posting.Posted}}</span> posted, <span id="post-failed">{{.Posting.Failed}}</span> failed — <span id="post-rate">{{rate .Posting.PerMinute}}</span> credentials per minute.</p>
<h2>Last runs</h2>
<table id="runs">
<tr><th>Verb</th><th>Started</th><th>Took</th><th>Corps</th><th>Generated</th><th>Posted</th><th>Failed</th><th>Unconfirmed</th><th>Note</th><th>Error</th></tr>
{{range .Runs}}<tr class="run"><td>{{.Verb}}</td><td>{{when .Started}}</td><td>{{took .}}</td><td>{{.Corps}}</td><td>{{.Generated}}</td><td>{{.Posted}}</td><td>{{.Failed}}</td><td>{{.Unconfirmed}}</td><td>{{.Note}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>
{{range .Stages}}{{if .RecentErrors}}<h2>Recent errors: {{.Table}}</h2>
<table id="errors-{{.Table}}">
<tr><th>Corp</th><th>Record</th><th>Type</th><th>When (Pacific)</th><th>Message</th></tr>
{{range .RecentErrors}}<tr><td>{{.Corp}}</td><td>{{.RecordID}}</td><td>{{.Type}}</td><td>{{local .At}}</td><td style="text-align:left">{{.Message}}</td></tr>
{{end}}</table>
{{end}}{{end}}
</body></html>
`))
