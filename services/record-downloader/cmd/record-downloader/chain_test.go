package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
)

// These tests run the real binary against fake-gcs-server, a NATS server
// and generated streams signed by generated keys, one rule of the issue
// each: the chain is the authority, the threshold counts the whole
// network, the address book follows the stream, the node-id layout, one
// announcement per file, size caps.

// uploadFiles puts the files' objects in the account layout.
func (e *procEnv) uploadFiles(files ...*streamgen.File) {
	e.t.Helper()
	var objs []streamgen.Object
	for _, f := range files {
		o, err := f.Objects("recordstreams/")
		if err != nil {
			e.t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	if err := streamgen.Upload(e.ctx, e.store, objs); err != nil {
		e.t.Fatal(err)
	}
}

// generate makes n files of a stream of net.
func generate(t *testing.T, net *streamgen.Network, n int, o streamgen.Options) []*streamgen.File {
	t.Helper()
	g := net.Stream(o)
	out := make([]*streamgen.File, n)
	for i := range out {
		f, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = f
	}
	return out
}

// writeBook writes net's NodeAddressBook and returns its path.
func writeBook(t *testing.T, net *streamgen.Network) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.0.102")
	if err := net.WriteAddressBook(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// records lists the record files visible in the day directories.
func (e *procEnv) records() []string {
	var out []string
	for _, f := range e.visible() {
		if strings.HasSuffix(f, ".rcd.gz") && !strings.Contains(f, "/sidecar/") {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func dayPath(f *streamgen.File) string { return f.Consensus.UTC().Format("2006-01-02") + "/" + f.Name }

func stem(f *streamgen.File) string { return strings.TrimSuffix(f.Name, ".rcd.gz") }

// msgIDs reads every message of the stream: Nats-Msg-Id → count.
func (e *procEnv) msgIDs() map[string]int {
	e.t.Helper()
	info, err := e.stream.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := e.stream.GetMsg(e.ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		testkit.CheckEvent(e.t, msg.Subject, msg.Data)
		out[msg.Header.Get(jetstream.MsgIDHeader)]++
	}
	return out
}

// A late signature: consensus time 1 has one node's signature of three
// (2 needed) while time 2 is agreed. Time 2 does not continue the chain
// from time 0, so it is not written: the stream waits on the chain, and
// the log names the time. When the signature arrives, 1 and 2 are written
// in order — no gap, no chain break.
func TestLateSignatureThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 3)
	files := generate(t, e.net, 3, streamgen.Options{})
	for _, n := range []string{"0.0.4", "0.0.5"} {
		files[1].SetFault(n, streamgen.Absent)
	}
	e.uploadFiles(files...)
	code, stderr := e.run(binary, nil, "CONSENSUS_RATIO=1/2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := e.records(); len(got) != 1 || got[0] != dayPath(files[0]) {
		t.Fatalf("written %v, want only file 0", got)
	}
	if !strings.Contains(stderr, "waiting on the chain") || !strings.Contains(stderr, stem(files[1])) {
		t.Errorf("the log does not say it waits on the chain at %s:\n%s", stem(files[1]), stderr)
	}
	for _, n := range []string{"0.0.4"} {
		files[1].SetFault(n, streamgen.Honest)
		objs, err := files[1].NodeObjects("recordstreams/", n)
		if err != nil {
			t.Fatal(err)
		}
		if err := streamgen.Upload(e.ctx, e.store, objs); err != nil {
			t.Fatal(err)
		}
	}
	if code, stderr := e.run(binary, nil, "CONSENSUS_RATIO=1/2"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{dayPath(files[0]), dayPath(files[1]), dayPath(files[2])}
	if got := e.records(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("written %v, want %v", got, want)
	}
	e.checkComplete(e.visible())
	checkChain(t, e, files)
}

// checkChain reads the written record files in order: each continues the
// one before.
func checkChain(t *testing.T, e *procEnv, files []*streamgen.File) {
	t.Helper()
	var prev *recordstream.RecordFile
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(e.dest, dayPath(f)))
		if err != nil {
			t.Fatal(err)
		}
		rf, err := recordstream.Parse(f.Name, data)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			if err := recordstream.Follows(prev, rf); err != nil {
				t.Error(err)
			}
		}
		prev = rf
	}
}

// Two files signed for one consensus time, each by enough of the network
// (a quarter here): nodes 0.0.3 and 0.0.4 serve and sign one that does
// not continue the chain — the heavier group, tried first — node 0.0.5
// the one that does. The first is refused, counted, and not written; the
// second is written; the stream goes on.
func TestCopyThatDoesNotChainThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 4)
	files := generate(t, e.net, 3, streamgen.Options{})
	for _, n := range []string{"0.0.3", "0.0.4"} {
		if err := files[1].SetFault(n, streamgen.Unchained); err != nil {
			t.Fatal(err)
		}
	}
	files[1].SetFault("0.0.6", streamgen.Absent)
	e.uploadFiles(files...)
	code, stderr := e.run(binary, nil, "CONSENSUS_RATIO=1/4", "LOG_LEVEL=warn")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{dayPath(files[0]), dayPath(files[1]), dayPath(files[2])}
	if got := e.records(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("written %v, want %v", got, want)
	}
	checkChain(t, e, files)
	if !strings.Contains(stderr, "does not continue the chain") || !strings.Contains(stderr, "node 0.0.3's copy") {
		t.Errorf("the refused copy is not logged:\n%s", stderr)
	}
	// File 1 was written from node 0.0.5's copy, the one signer of the
	// file that continues the chain.
	for _, ev := range e.events() {
		if ev.Kind == "record" && ev.Path == dayPath(files[1]) && ev.Node != "5" {
			t.Errorf("file 1 written from node %s's copy, want 0.0.5's", ev.Node)
		}
	}
}

// NODES=0.0.3 on a network of four: the threshold counts the whole book,
// so one node's signature is never enough. The live pass writes nothing;
// a backfill says why and exits 1. With two of the four read, a third of
// the network signs and the files are written.
func TestNodesSubsetOfTheBookThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 4)
	files := generate(t, e.net, 2, streamgen.Options{})
	e.uploadFiles(files...)
	book := writeBook(t, e.net)
	env := []string{"NODE_PUBLIC_KEYS=", "ADDRESS_BOOK=" + book, "NODES=0.0.3"}
	if code, stderr := e.run(binary, nil, env...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := e.records(); len(got) != 0 {
		t.Fatalf("one signature of four wrote %v", got)
	}
	code, stderr := e.run(binary, []string{"backfill", "--marker", "2024-01-01"}, env...)
	if code != 1 || !strings.Contains(stderr, "verified nothing") || !strings.Contains(stderr, "1 of 4 (2 needed)") {
		t.Errorf("backfill with one node of four: exit %d, %s", code, stderr)
	}
	env[2] = "NODES=0.0.5,0.0.3"
	if code, stderr := e.run(binary, nil, env...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := e.records(); len(got) != 2 {
		t.Fatalf("two of four read: written %v", got)
	}
	for _, ev := range e.events() {
		if ev.Node != "5" {
			t.Errorf("%s written from node %s, want 0.0.5, the first of NODES", ev.Path, ev.Node)
		}
	}
}

// Every node's key rotated, and the new book announced in the stream as
// the network does: 0.0.102 written by a FileUpdate and FileAppends in
// file 2. The live service, started with the old book, checks files 0–2
// with it and files 3–5 with the new one it read from the stream, and
// keeps that book. A backfill across the rotation in a fresh directory
// learns it the same way; a backfill of the files after the rotation
// alone, with only the old book, verifies nothing and says why; with the
// books the live service kept, it verifies them.
func TestKeyRotationInTheStreamThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 4)
	oldBook := writeBook(t, e.net)
	rotated := e.net
	for _, n := range e.net.Accounts() {
		var err error
		if rotated, err = rotated.RotateKey(n); err != nil {
			t.Fatal(err)
		}
	}
	// A file every 20 s: files 3–5 are the ones under 2024-01-01T00_01.
	g := e.net.Stream(streamgen.Options{Mixed: true, Items: 5, Interval: 20 * time.Second})
	var files []*streamgen.File
	for i := range 6 {
		if i == 2 {
			if err := g.AnnounceBook(rotated, 700); err != nil {
				t.Fatal(err)
			}
		}
		f, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	e.uploadFiles(files...)
	env := []string{"NODE_PUBLIC_KEYS=", "ADDRESS_BOOK=" + oldBook}
	if code, stderr := e.run(binary, nil, env...); code != 0 {
		t.Fatalf("live: exit %d: %s", code, stderr)
	}
	if got := e.records(); len(got) != 6 {
		t.Fatalf("live: written %v, want all 6", got)
	}
	checkChain(t, e, files)
	// The signatures after the rotation were checked with the new book
	// only: none was refused on the way.
	if q, _ := os.ReadDir(filepath.Join(e.dest, "_quarantine")); len(q) != 0 {
		t.Errorf("quarantined during the live run: %v", q)
	}
	kept, _ := filepath.Glob(filepath.Join(e.dest, "_state", "addressbooks", "*-0.0.102.pb"))
	if len(kept) != 1 {
		t.Fatalf("books kept: %v", kept)
	}
	want, err := rotated.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(kept[0]); !bytes.Equal(got, want) {
		t.Errorf("the kept book is not the one announced")
	}

	// A backfill across the rotation, from scratch.
	fresh := t.TempDir()
	code, stderr := e.run(binary, []string{"backfill", "--marker", "2024-01-01"}, append(env, "DEST_DIR="+fresh)...)
	if code != 0 {
		t.Fatalf("backfill across the rotation: exit %d: %s", code, stderr)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(fresh, dayPath(f))); err != nil {
			t.Errorf("backfill across the rotation: %v", err)
		}
	}
	// After the rotation only, with only the old book: nothing verifies.
	const marker = "2024-01-01T00_01"
	if !strings.HasPrefix(stem(files[3]), marker) || strings.HasPrefix(stem(files[2]), marker) {
		t.Fatalf("marker %s does not select files 3–5", marker)
	}
	alone := t.TempDir()
	code, stderr = e.run(binary, []string{"backfill", "--marker", marker}, append(env, "DEST_DIR="+alone)...)
	if code != 1 || !strings.Contains(stderr, "verified nothing") || !strings.Contains(stderr, "wrong keys for that period") {
		t.Errorf("backfill after the rotation with the old book: exit %d, %s", code, stderr)
	}
	// With the books the live service kept (its STATE_DIR), it does.
	code, stderr = e.run(binary, []string{"backfill", "--marker", marker}, append(env, "DEST_DIR="+alone, "STATE_DIR="+filepath.Join(e.dest, "_state"))...)
	if code != 0 {
		t.Fatalf("backfill after the rotation with the kept books: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(alone, dayPath(files[3]))); err != nil {
		t.Error(err)
	}
}

// The node-id layout (<network>/<shard>/<node id>/record/): read with
// PATH_TYPE=NODE_ID, and found by AUTO after the account layout stays
// empty for PATH_REFRESH_INTERVAL.
func TestNodeIDLayoutThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 3)
	files := generate(t, e.net, 3, streamgen.Options{SidecarEvery: 2})
	var objs []streamgen.Object
	for _, f := range files {
		o, err := f.ObjectsNodeID("testnet", 0)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	if err := streamgen.Upload(e.ctx, e.store, objs); err != nil {
		t.Fatal(err)
	}
	if code, stderr := e.run(binary, nil, "PATH_TYPE=NODE_ID", "NETWORK=testnet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := e.records(); len(got) != 3 {
		t.Fatalf("NODE_ID: written %v", got)
	}
	for _, ev := range e.events() {
		if !strings.HasPrefix(ev.Object, fmt.Sprintf("testnet/0/%d/record/", ev.NodeID)) || ev.Node != fmt.Sprint(ev.NodeID+3) {
			t.Errorf("event %+v: not the node-id layout of its node", ev)
		}
	}

	// AUTO, in a fresh directory, as a service: the account layout is
	// empty, so after a second it tries the node ids and keeps them.
	dest := t.TempDir()
	c := e.cmd(binary, nil, "PATH_TYPE=AUTO", "NETWORK=testnet", "PATH_REFRESH_INTERVAL=1", "RUN_AS_SERVICE=true",
		"MIN_SLEEP=1", "MAX_SLEEP=1", "DEST_DIR="+dest, "NOTIFICATIONS=false", "LOG_LEVEL=info")
	var out bytes.Buffer
	c.Stderr = &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ := filepath.Glob(filepath.Join(dest, "2024-01-01", "*.rcd.gz")); len(got) == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
	if got, _ := filepath.Glob(filepath.Join(dest, "2024-01-01", "*.rcd.gz")); len(got) != 3 {
		t.Fatalf("AUTO wrote %v in 60 s:\n%s", got, out.String())
	}
	if !strings.Contains(out.String(), "trying the node-id layout") {
		t.Errorf("AUTO did not say it switched:\n%s", out.String())
	}
}

// A retry that takes the same files from another signer, and a backfill
// over files already announced, announce nothing new: the stream holds
// one event per file, its Nats-Msg-Id the file's network, day, name and
// kind.
func TestAnnouncedOnceThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 3)
	files := generate(t, e.net, 3, streamgen.Options{SidecarEvery: 1})
	e.uploadFiles(files...)
	if code, stderr := e.run(binary, nil, "NODES=0.0.3,0.0.4,0.0.5"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first := e.msgIDs()
	if len(first) != 9 {
		t.Fatalf("%d events, want 9 (record, signature, sidecar of 3 files): %v", len(first), first)
	}
	for id, n := range first {
		if n != 1 || !strings.HasPrefix(id, "mainnet/2024-01-01/2024-01-01T") {
			t.Errorf("Nats-Msg-Id %q × %d", id, n)
		}
	}
	// The retry: the position lost, the files taken from 0.0.5 this time.
	if err := os.Remove(filepath.Join(e.dest, "_state", "live.json")); err != nil {
		t.Fatal(err)
	}
	if code, stderr := e.run(binary, nil, "NODES=0.0.5,0.0.3,0.0.4"); code != 0 {
		t.Fatalf("retry: exit %d: %s", code, stderr)
	}
	// A backfill over the same files (found in place, announced again).
	if code, stderr := e.run(binary, []string{"backfill", "--marker", "2024-01-01"}); code != 0 {
		t.Fatalf("backfill: exit %d: %s", code, stderr)
	}
	after := e.msgIDs()
	if len(after) != len(first) {
		t.Errorf("%d events after the retry and the backfill, want %d", len(after), len(first))
	}
	for id, n := range after {
		if n != 1 || first[id] != 1 {
			t.Errorf("Nats-Msg-Id %q × %d", id, n)
		}
	}
	info, err := e.stream.Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 7*24*time.Hour || info.Config.MaxBytes != 4<<30 || info.Config.Duplicates != time.Hour {
		t.Errorf("stream limits: max age %v, max bytes %d, duplicates %v", info.Config.MaxAge, info.Config.MaxBytes, info.Config.Duplicates)
	}
}

// hostile is a front to fake-gcs-server that makes one object 2 GiB: in
// the listing (lieSize) or in its body (lieBody: Content-Length 2 GiB and
// zeros without end, whatever the range asked).
type hostile struct {
	rp      *httputil.ReverseProxy
	object  string
	lieSize bool
	lieBody bool

	mu   sync.Mutex
	sent int64
	gets int
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, _ := url.PathUnescape(r.URL.EscapedPath())
	media := r.Method == http.MethodGet && strings.HasSuffix(path, "/"+h.object) && (r.URL.Query().Get("alt") == "media" || strings.HasPrefix(path, "/download/"))
	if media {
		h.mu.Lock()
		h.gets++
		h.mu.Unlock()
	}
	if media && h.lieBody {
		w.Header().Set("Content-Length", "2147483648")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 64<<10)
		for {
			n, err := w.Write(chunk)
			h.mu.Lock()
			h.sent += int64(n)
			h.mu.Unlock()
			if err != nil || h.sent >= 2<<30 {
				return
			}
		}
	}
	listing := r.Method == http.MethodGet && strings.HasSuffix(path, "/o") && h.lieSize
	if !listing {
		h.rp.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	h.rp.ServeHTTP(rec, r)
	var page map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	items, _ := page["items"].([]any)
	for _, it := range items {
		if o, ok := it.(map[string]any); ok && o["name"] == h.object {
			o["size"] = "2147483648"
		}
	}
	body, _ := json.Marshal(page)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// A 2 GiB "signature" object, announced by the listing or served as a
// body, is refused after at most its 64 KiB cap: the process never holds
// it (peak RSS far below it; the race detector's own overhead included),
// writes nothing of it, names it in the quarantine, and takes the file
// from the other nodes.
func TestHugeSignatureRefusedThroughTheBinary(t *testing.T) {
	for _, tc := range []struct {
		name             string
		lieSize, lieBody bool
	}{{"listed", true, false}, {"served", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newProcEnv(t, 3)
			files := generate(t, e.net, 2, streamgen.Options{})
			e.uploadFiles(files...)
			target := "recordstreams/record0.0.3/" + stem(files[0]) + ".rcd_sig"
			u, err := url.Parse(e.gcs.URL())
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(u)
			rp.Transport = e.gcs.HTTPClient().Transport
			h := &hostile{rp: rp, object: target, lieSize: tc.lieSize, lieBody: tc.lieBody}
			front := httptest.NewServer(h)
			t.Cleanup(front.Close)
			c := e.cmd(binary, nil, "BUCKET_ENDPOINT="+front.URL, "CONSENSUS_RATIO=1/3")
			var stderr bytes.Buffer
			c.Stderr = &stderr
			m, err := testkit.RunMeasured(c)
			if err != nil {
				t.Fatalf("%v: %s", err, stderr.String())
			}
			t.Logf("peak RSS %d MB; the front sent %d bytes of the object in %d GETs", m.PeakRSS>>20, h.sent, h.gets)
			if m.PeakRSS > 400<<20 {
				t.Errorf("peak RSS %d MB: the object was taken in", m.PeakRSS>>20)
			}
			if got := e.records(); len(got) != 2 {
				t.Fatalf("written %v, want both files from the other nodes", got)
			}
			reason, err := os.ReadFile(filepath.Join(e.dest, "_quarantine", "0.0.3", stem(files[0])+".rcd_sig.reason"))
			if err != nil || !strings.Contains(string(reason), "reason: too_large") || !strings.Contains(string(reason), target) {
				t.Errorf("quarantine note: %s %v", reason, err)
			}
			if _, err := os.Stat(filepath.Join(e.dest, "_quarantine", "0.0.3", stem(files[0])+".rcd_sig")); !os.IsNotExist(err) {
				t.Errorf("the refused object's bytes were kept: %v", err)
			}
			if tc.lieSize && h.gets != 0 {
				t.Errorf("an object listed at 2 GiB was fetched %d times", h.gets)
			}
			if tc.lieBody && (h.gets != 1 || h.sent > 64<<20) {
				t.Errorf("the 2 GiB body: %d GETs, %d bytes sent", h.gets, h.sent)
			}
		})
	}
}

// An S3 bucket read without a key in the environment: the AWS default
// credential chain finds one (here a profile in a shared credentials
// file, as IRSA or an instance role would give one in production).
func TestS3DefaultCredentialChainThroughTheBinary(t *testing.T) {
	e := newProcEnv(t, 2)
	b := testkit.S3(t)
	store, err := blob.Open(e.ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	files := generate(t, e.net, 2, streamgen.Options{})
	var objs []streamgen.Object
	for _, f := range files {
		o, err := f.Objects("recordstreams/")
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	if err := streamgen.Upload(e.ctx, store, objs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[mirror]\naws_access_key_id = "+b.ID+"\naws_secret_access_key = "+b.Key.Value()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"BUCKET=s3://" + b.Name, "BUCKET_ENDPOINT=" + b.Endpoint, "S3_REQUESTER_PAYS=false",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_PROFILE=mirror"}
	if code, stderr := e.run(binary, nil, env...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := e.records(); len(got) != 2 {
		t.Fatalf("written %v", got)
	}
	// Without the profile the same run is refused by the bucket.
	if code, _ := e.run(binary, nil, append(env, "AWS_PROFILE=nobody", "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))...); code == 0 {
		t.Error("a run without credentials succeeded: the test proves nothing")
	}
}
