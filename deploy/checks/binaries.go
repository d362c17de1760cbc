package checks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Services are the service binaries: services/<name>/cmd/<name>.
func Services(root string) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(root, "services", "*", "cmd", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range mains {
		dir := filepath.Dir(m)
		if filepath.Base(dir) == filepath.Base(filepath.Dir(filepath.Dir(dir))) {
			names = append(names, filepath.Base(dir))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("no services/<name>/cmd/<name>/main.go under %s", root)
	}
	return names, nil
}

// workspaceEnv is the environment for the go command in the repository
// itself: the checks run with GOWORK=off, the services build in the
// workspace.
func workspaceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	return env
}

// Ldflags are the -ldflags `make build` stamps binaries with, as the
// Makefile prints them.
func Ldflags(root string) (string, error) {
	cmd := exec.Command("make", "-s", "--no-print-directory", "print-ldflags")
	cmd.Dir = root
	cmd.Env = workspaceEnv()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("make print-ldflags: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Build builds every service and the agent stub into dir, stamped with
// ld (the Makefile's -ldflags, Ldflags), and returns the binaries by name.
func Build(root, dir, ld string) (map[string]string, error) {
	names, err := Services(root)
	if err != nil {
		return nil, err
	}
	args := []string{"build", "-ldflags", ld, "-o", dir + string(filepath.Separator)}
	bins := map[string]string{}
	for _, n := range names {
		args = append(args, "./services/"+n+"/cmd/"+n)
		bins[n] = filepath.Join(dir, n)
	}
	args = append(args, "./deploy/devstack/cmd/agent-stub")
	bins["agent-stub"] = filepath.Join(dir, "agent-stub")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = workspaceEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bins, nil
}

// Variables are the environment variables a binary's --help lists: the
// first word of each line under "Environment variables:" that is
// indented and upper case.
func Variables(bin string) (map[string]bool, error) {
	cmd := exec.Command(bin, "--help")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %w", filepath.Base(bin), err)
	}
	vars := map[string]bool{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Environment variables:") {
			in = true
			continue
		}
		if !in {
			continue
		}
		if strings.TrimSpace(line) == "" {
			break
		}
		f := strings.Fields(line)
		if len(f) > 0 && f[0] != "VARIABLE" && f[0] == strings.ToUpper(f[0]) {
			vars[f[0]] = true
		}
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s --help lists no variables:\n%s", filepath.Base(bin), out)
	}
	return vars, nil
}

// runtimeVariables are read by the Go runtime or the OS, not a service's
// config: a deploy file may set them for any service.
var runtimeVariables = map[string]bool{"TMPDIR": true, "GOMEMLIMIT": true, "GOMAXPROCS": true, "GODEBUG": true}
