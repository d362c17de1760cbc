package checks

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadCompose loads a compose file as `docker compose config` does
// (compose-go: schema validation, interpolation with an empty
// environment, merge keys, consistency checks, paths resolved against
// root).
func LoadCompose(ctx context.Context, root string, content []byte) (*types.Project, error) {
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml"), Content: content}},
		Environment: types.Mapping{},
	}
	return loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName("tributary", true)
	})
}

// interpolation finds $VAR and ${VAR…} with the run of dollars before
// it: an even run is escaped ($$), an odd one interpolates.
var interpolation = regexp.MustCompile(`(\$+)(\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// pinnedTag is a release, not a major line: major.minor[.patch] with an
// optional v and suffix (v1.8.0, 16.6 — PostgreSQL's releases have two
// numbers —, 8.19.7-alpine). nats:2, postgres:16 and latest are not.
var pinnedTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+(\.[0-9]+)?([.-][A-Za-z0-9.-]+)?$`)

// ComposePolicy is what the repository's compose file must hold beyond
// loading: Vars are, per binary (a service's name or agent-stub), the
// variables its --help lists.
type ComposePolicy struct {
	Vars map[string]map[string]bool
}

// CheckInterpolation fails every variable the compose file takes from
// the environment without a default: the stack needs nothing from
// outside the repository. It reads the raw file, so it holds whether or
// not the file loads.
func CheckInterpolation(raw []byte) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, m := range interpolation.FindAllStringSubmatch(string(raw), -1) {
		if len(m[1])%2 == 0 {
			continue
		}
		name, rest := m[3], m[4]
		if name == "" {
			bad("$%s is interpolated without a default: the stack needs nothing from outside the repository", m[5])
			continue
		}
		if !strings.HasPrefix(rest, ":-") && !strings.HasPrefix(rest, "-") {
			bad("${%s} is interpolated without a default: the stack needs nothing from outside the repository", name)
		}
	}
	return errs
}

// Check returns every way p, loaded from the repository's compose file,
// breaks the policy (CheckInterpolation apart).
func (pol ComposePolicy) Check(root string, p *types.Project) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		// Every file the stack mounts or builds from is the repository's.
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if !within(root, v.Source) {
				bad("%s: bind mount %s is outside the repository", name, v.Source)
			} else if _, err := os.Stat(v.Source); err != nil {
				bad("%s: bind mount %s: %v", name, v.Source, err)
			}
		}
		binary := ""
		if s.Build != nil {
			dockerfile := s.Build.Dockerfile
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(s.Build.Context, dockerfile)
			}
			switch {
			case !within(root, s.Build.Context):
				bad("%s: build context %s is outside the repository", name, s.Build.Context)
			case !within(root, dockerfile):
				bad("%s: Dockerfile %s is outside the repository", name, dockerfile)
			default:
				if _, err := os.Stat(dockerfile); err != nil {
					bad("%s: %v", name, err)
				}
			}
			if arg := s.Build.Args["SERVICE"]; arg != nil {
				binary = *arg
			} else if filepath.Base(filepath.Dir(dockerfile)) == "agentstub" {
				binary = "agent-stub"
			}
			for _, a := range []string{"VERSION", "REVISION"} {
				if s.Build.Args[a] == nil {
					bad("%s: the build does not pass %s, so the image cannot say which build it is", name, a)
				}
			}
			// Ours: built here, named tributary/<binary>, hardened as
			// the Kubernetes pods are.
			if binary != "" && !strings.HasPrefix(s.Image, "tributary/"+binary+":") {
				bad("%s: built image is named %q, want tributary/%s:<tag>", name, s.Image, binary)
			}
			if !s.ReadOnly {
				bad("%s: read_only is not set: the root filesystem must be read-only as in the pods", name)
			}
			if !slices.Contains(s.CapDrop, "ALL") {
				bad("%s: cap_drop lacks ALL", name)
			}
			if !slices.ContainsFunc(s.SecurityOpt, func(o string) bool { return o == "no-new-privileges:true" || o == "no-new-privileges" }) {
				bad("%s: security_opt lacks no-new-privileges:true", name)
			}
		} else {
			ref, tag := s.Image, ""
			if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
				tag = ref[i+1:]
			}
			if !strings.Contains(ref, "@sha256:") && !pinnedTag.MatchString(tag) {
				bad("%s: image %q is not pinned to a release (major.minor.patch or a digest)", name, ref)
			}
		}
		// Every variable given to one of ours is one its binary reads.
		if binary != "" {
			vars, ok := pol.Vars[binary]
			if !ok {
				bad("%s: builds %q, which is not a binary of the repository", name, binary)
				continue
			}
			var unknown []string
			for k := range s.Environment {
				if !vars[k] && !runtimeVariables[k] {
					unknown = append(unknown, k)
				}
			}
			sort.Strings(unknown)
			if len(unknown) > 0 {
				bad("%s: %s --help does not list %s: a variable the service does not read", name, binary, strings.Join(unknown, ", "))
			}
		}
	}

	// The registry-processor posts to the stub of this stack.
	for _, name := range names {
		s := p.Services[name]
		if s.Build == nil || s.Build.Args["SERVICE"] == nil || *s.Build.Args["SERVICE"] != "registry-processor" || s.Environment["CONTROLLER_URL"] == nil {
			continue
		}
		u, err := url.Parse(*s.Environment["CONTROLLER_URL"])
		if err != nil {
			bad("%s: CONTROLLER_URL: %v", name, err)
			continue
		}
		stub, ok := p.Services[u.Hostname()]
		if !ok || stub.Build == nil || filepath.Base(filepath.Dir(filepath.Join(stub.Build.Context, stub.Build.Dockerfile))) != "agentstub" {
			bad("%s: CONTROLLER_URL %s is not the stack's agent stub (a service built from deploy/agentstub)", name, u)
		}
	}
	return errs
}
