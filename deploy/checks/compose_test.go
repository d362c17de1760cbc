package checks

import (
	"context"
	"strings"
	"testing"
)

// The repository's docker-compose.yml loads as `docker compose config`
// loads it and holds the policy.
func TestComposeConfig(t *testing.T) {
	raw := readRepoFile(t, "docker-compose.yml")
	p, err := LoadCompose(context.Background(), repoRoot, raw)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	for _, err := range append(CheckInterpolation(raw), (ComposePolicy{Vars: varsOf}).Check(repoRoot, p)...) {
		t.Error(err)
	}
	// What the issue asked of it, by name.
	dl := p.Services["record-downloader"]
	if _, ok := dl.Environment["TARGET"]; ok {
		t.Error("record-downloader is given TARGET, which it does not use")
	}
	if _, ok := p.Services["agent-stub"]; !ok {
		t.Error("no agent-stub service: the stack needs the credential agent from outside")
	}
}

// Each planted mistake is caught, by the loader or by the policy.
func TestComposeCatchesPlantedMistakes(t *testing.T) {
	raw := string(readRepoFile(t, "docker-compose.yml"))
	cases := []struct {
		name, old, new, want string
	}{
		{"a key compose does not know", "    image: nats:2.10.22\n", "    image: nats:2.10.22\n    restart_policy: always\n", "restart_policy"},
		{"a service depends on one that is not there", "      nats:\n        condition: service_started\n", "      natz:\n        condition: service_started\n", "natz"},
		{"a floating tag", "image: nats:2.10.22", "image: nats:2", `"nats:2" is not pinned`},
		{"latest", "image: postgres:16.6", "image: postgres:latest", "is not pinned"},
		{"a variable from outside", "./testdata/hedera/hedera-mirror-node", "${HEDERA_FIXTURES}", "${HEDERA_FIXTURES} is interpolated without a default"},
		{"a mount outside the repository", "./testdata/hedera/hedera-mirror-node/addressbook:", "../addressbook:", "outside the repository"},
		{"a variable the service does not read", "      NETWORK: mainnet\n      BUCKET: gs://", "      TARGET: host=postgres\n      NETWORK: mainnet\n      BUCKET: gs://", "record-downloader: record-downloader --help does not list TARGET"},
		{"writable root", "  read_only: true\n", "  read_only: false\n", "read_only is not set"},
		{"capabilities kept", "  cap_drop: [ALL]\n", "  cap_drop: [NET_RAW]\n", "cap_drop lacks ALL"},
		{"privilege escalation", `  security_opt: ["no-new-privileges:true"]`, `  security_opt: ["label:disable"]`, "lacks no-new-privileges"},
		{"the agent from outside", "CONTROLLER_URL: http://agent-stub:8080", "CONTROLLER_URL: http://host.docker.internal:18080", "is not the stack's agent stub"},
		{"an unstamped build", "  VERSION: ${TRIBUTARY_VERSION:-dev}\n", "", "does not pass VERSION"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(raw, c.old) {
				t.Fatalf("the compose file no longer holds %q: update the planted mistake", c.old)
			}
			planted := strings.Replace(raw, c.old, c.new, 1)
			var found []string
			for _, e := range CheckInterpolation([]byte(planted)) {
				found = append(found, e.Error())
			}
			p, err := LoadCompose(context.Background(), repoRoot, []byte(planted))
			if err != nil {
				found = append(found, err.Error())
			} else {
				for _, e := range (ComposePolicy{Vars: varsOf}).Check(repoRoot, p) {
					found = append(found, e.Error())
				}
			}
			for _, f := range found {
				if strings.Contains(f, c.want) {
					return
				}
			}
			t.Fatalf("planted %s: no error says %q; got %q", c.name, c.want, found)
		})
	}
}
