package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot is the directory holding go.work, found by walking up from the
// working directory ("" if there is none).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// howToInstall says how to get each outside binary tests use.
var howToInstall = map[string]string{
	"versitygw": "make tools-test (or: GOBIN=$PWD/.cache/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)",
	"kcat":      "apt-get install kcat (make tools-test does it when root)",
}

// LookTool finds a binary in PATH, the repo's .cache/bin or GOPATH/bin.
func LookTool(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	var dirs []string
	if root := RepoRoot(); root != "" {
		dirs = append(dirs, filepath.Join(root, ".cache", "bin"))
	}
	for _, gp := range goPaths() {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// goPaths is where `go install` puts binaries: GOPATH as the go command
// sees it (it may be set with `go env -w`, not in the environment), each
// entry of a list, else the default ~/go.
func goPaths() []string {
	gp := os.Getenv("GOPATH")
	if gp == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gp = strings.TrimSpace(string(out))
		}
	}
	if gp == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gp = filepath.Join(home, "go")
		}
	}
	return filepath.SplitList(gp)
}

// Tool is LookTool that fails the test, saying how to install the binary.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, ok := LookTool(name)
	if !ok {
		how := howToInstall[name]
		if how == "" {
			how = "install it"
		}
		t.Fatalf("testkit: %s not found in PATH, .cache/bin or GOPATH/bin: %s", name, how)
	}
	return p
}
