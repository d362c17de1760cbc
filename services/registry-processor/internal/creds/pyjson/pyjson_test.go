package pyjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// pythonDumps asks python3 for json.dumps(d, sort_keys=True) and its
// SHA-256 for every map: the reference the original computed hashes with.
// The maps travel to Python as JSON from encoding/json, which round-trips
// any valid UTF-8 string exactly.
func pythonDumps(t *testing.T, maps []map[string]string) (dumps, hashes []string) {
	t.Helper()
	in, err := json.Marshal(maps)
	if err != nil {
		t.Fatal(err)
	}
	const prog = `
import hashlib, json, sys
for d in json.load(sys.stdin):
    s = json.dumps(d, sort_keys=True)
    print(s)
    print(hashlib.sha256(s.encode("utf-8")).hexdigest())
`
	cmd := exec.Command("python3", "-c", prog)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 (the reference serializer) failed: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		dumps = append(dumps, sc.Text())
		if !sc.Scan() {
			t.Fatal("python3 output ends after a dump without its hash")
		}
		hashes = append(hashes, sc.Text())
	}
	if len(dumps) != len(maps) {
		t.Fatalf("python3 printed %d dumps for %d maps", len(dumps), len(maps))
	}
	return dumps, hashes
}

func allControls() string {
	var b strings.Builder
	for r := rune(0); r < 0x20; r++ {
		b.WriteRune(r)
	}
	b.WriteRune(0x7f)
	return b.String()
}

func tricky() []map[string]string {
	return []map[string]string{
		{},
		{"": ""},
		{"a": ""},
		{"registration_id": "BC0641655", "entity_name": "A & B / C \"quoted\" \\ back", "effective_date": "2004-03-26T20:36:00+00:00"},
		{"controls": allControls()},
		{"latin": "Café Montréal — “curly” ‘quotes’ …", "cjk": "日本語のテキスト", "rtl": "עברית العربية"},
		{"astral": "emoji 😀 🇨🇦 𝄞 𐍈 \U0010ffff", "bmp-edge": "\uffff\ufffe\ue000\u0080\u00ff\u0100"},
		// Sorting by code point: "é" (U+00E9) sorts before "😀" and after
		// "z"; in UTF-16 U+FF5E would sort after the surrogate 0xD83D, in
		// code points it sorts before U+1F600.
		{"z": "1", "é": "2", "😀": "3", "～": "4", "A": "5", "a": "6", "_": "7", "aa": "8", "a ": "9", "b": "10"},
		{"keys need escaping \n\t\"": "v", "\\": "\\\\", "/": "/", "</script>": "<>&'"},
		{"nul": "\x00", "del": "\x7f", "sp": " ", "tilde": "~"},
	}
}

// TestDumpsMatchesPython compares byte for byte with Python on hand-picked
// tricky values.
func TestDumpsMatchesPython(t *testing.T) {
	maps := tricky()
	want, wantHash := pythonDumps(t, maps)
	for i, m := range maps {
		got := Dumps(m)
		if got != want[i] {
			t.Errorf("map %d:\n got  %s\n want %s", i, got, want[i])
		}
		if h := Hash(got); h != wantHash[i] {
			t.Errorf("map %d: hash %s, want %s", i, h, wantHash[i])
		}
	}
}

// TestDumpsHandDerived pins a few outputs written out by hand from
// Python's rules, so the expectations do not depend only on a python3
// being present.
func TestDumpsHandDerived(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]string
		want string
	}{
		{map[string]string{}, `{}`},
		{map[string]string{"b": "2", "a": "1"}, `{"a": "1", "b": "2"}`},
		{map[string]string{"k": "é/\"\\\x01\x7f"}, `{"k": "\u00e9/\"\\\u0001\u007f"}`},
		{map[string]string{"k": "😀"}, `{"k": "\ud83d\ude00"}`},
		{map[string]string{"k": "\b\f\n\r\t"}, `{"k": "\b\f\n\r\t"}`},
		{map[string]string{"～": "", "😀": ""}, `{"\uff5e": "", "\ud83d\ude00": ""}`},
	} {
		if got := Dumps(tc.in); got != tc.want {
			t.Errorf("Dumps(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// sha256("{}"), from `printf '{}' | sha256sum`.
	if got, want := Hash("{}"), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"; got != want {
		t.Errorf("Hash({}) = %s, want %s", got, want)
	}
}

// TestDumpsRandomMatchesPython throws seeded random strings drawn from
// every interesting range (ASCII, controls, Latin-1, BMP, astral) at both
// implementations.
func TestDumpsRandomMatchesPython(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 34))
	ranges := [][2]rune{{0, 0x80}, {0, 0x20}, {0x80, 0x800}, {0x800, 0xd800}, {0xe000, 0x10000}, {0x10000, 0x110000}}
	str := func() string {
		n := rng.IntN(12)
		var b strings.Builder
		for range n {
			r := ranges[rng.IntN(len(ranges))]
			b.WriteRune(r[0] + rng.Int32N(r[1]-r[0]))
		}
		return b.String()
	}
	maps := make([]map[string]string, 300)
	for i := range maps {
		m := map[string]string{}
		for range rng.IntN(8) {
			m[str()] = str()
		}
		maps[i] = m
	}
	want, wantHash := pythonDumps(t, maps)
	for i, m := range maps {
		got := Dumps(m)
		if got != want[i] {
			t.Fatalf("map %d (%q):\n got  %s\n want %s", i, m, got, want[i])
		}
		if h := Hash(got); h != wantHash[i] {
			t.Fatalf("map %d: hash %s, want %s", i, h, wantHash[i])
		}
	}
}

// TestDumpsNullable: nil is Python's None, written null.
func TestDumpsNullable(t *testing.T) {
	x := "x"
	empty := ""
	got := DumpsNullable(map[string]*string{"b": nil, "a": &x, "c": &empty})
	// python3 -c 'import json; print(json.dumps({"b": None, "a": "x", "c": ""}, sort_keys=True))'
	if want := `{"a": "x", "b": null, "c": ""}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func BenchmarkDumps(b *testing.B) {
	m := map[string]string{
		"registration_id": "BC0641655", "registration_date": "1990-01-01T08:00:00+00:00",
		"entity_name": "EXAMPLE HOLDINGS LTD.", "entity_status": "ACT", "entity_type": "BC",
		"effective_date": "2004-03-26T20:36:00+00:00", "expiry_date": "", "home_jurisdiction": "BC",
	}
	for b.Loop() {
		Hash(Dumps(m))
	}
}
