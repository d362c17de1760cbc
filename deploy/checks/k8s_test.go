package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot, "deploy", "k8s", "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) < 2 {
		t.Fatalf("overlays: %v, want dev and prod at least", out)
	}
	return out
}

// checkOverlay renders one overlay of fsys and returns every error the
// rendering, the pod checks and the policy find.
func checkOverlay(t *testing.T, fsys filesys.FileSystem, overlay string) []error {
	t.Helper()
	res, err := Render(fsys, TreeRoot+"/overlays/"+overlay)
	if err != nil {
		return []error{err}
	}
	images, err := PinnedImages(fsys)
	if err != nil {
		return []error{err}
	}
	class, err := StorageClass(fsys, overlay)
	if err != nil {
		return []error{err}
	}
	pol := K8sPolicy{Vars: varsOf, Images: images, StorageClass: class, Operator: UsesComponent(fsys, overlay, "prometheus-operator")}
	return append(CheckPods(res), pol.Check(res)...)
}

// The base and every overlay render, decode strictly, meet Pod Security
// restricted, and the overlays hold the policy.
func TestKubernetesRenders(t *testing.T) {
	fsys, err := LoadTree(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Render(fsys, TreeRoot+"/base")
	if err != nil {
		t.Fatalf("base: %v", err)
	}
	for _, err := range CheckPods(base) {
		t.Errorf("base: %v", err)
	}
	for _, o := range overlays(t) {
		t.Run(o, func(t *testing.T) {
			for _, err := range checkOverlay(t, fsys, o) {
				t.Error(err)
			}
		})
	}
	// What the overlays must differ in or share, by name.
	dev, _ := Render(fsys, TreeRoot+"/overlays/dev")
	prod, _ := Render(fsys, TreeRoot+"/overlays/prod")
	count := func(res []Resource, kind string) int {
		n := 0
		for _, r := range res {
			if r.Kind == kind {
				n++
			}
		}
		return n
	}
	if n := count(dev, "Secret"); n != 5 {
		t.Errorf("dev renders %d Secrets, want the five services'", n)
	}
	if n := count(prod, "ExternalSecret"); n != 5 {
		t.Errorf("prod renders %d ExternalSecrets, want the five services'", n)
	}
	if count(prod, "PodMonitor") == 0 || count(prod, "PrometheusRule") == 0 {
		t.Error("prod does not take components/prometheus-operator")
	}
}

// Every planted mistake is caught, by kustomize, strict decoding, the
// Pod Security check or the policy.
func TestKubernetesCatchesPlantedMistakes(t *testing.T) {
	cases := []struct {
		name, file, old, new, overlay, want string
	}{
		{"a Secret no one makes", "base/s3-loader.yaml", "            - secretRef:\n                name: s3-loader\n", "            - secretRef:\n                name: s3-loadr\n", "dev", `names Secret "s3-loadr", which is not in the rendering`},
		{"a ConfigMap no one makes", "overlays/prod/kustomization.yaml", "  - name: record-downloader-addressbook\n", "  - name: record-downloader-address-book\n", "prod", `names ConfigMap "record-downloader-addressbook"`},
		{"a misspelt field", "base/topic-archiver.yaml", "  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  revisionHistoryLimt: 5\n", "dev", "strict decoding"},
		{"a field of the wrong type", "base/topic-archiver.yaml", "  replicas: 1\n", "  replicas: one\n", "dev", "Deployment/topic-archiver"},
		{"privilege escalation", "base/registry-processor.yaml", "            allowPrivilegeEscalation: false\n", "            allowPrivilegeEscalation: true\n", "dev", "Pod Security restricted forbids"},
		{"running as root", "base/registry-processor.yaml", "        runAsNonRoot: true\n", "        runAsNonRoot: false\n", "prod", "Pod Security restricted forbids"},
		{"a floating image", "components/images/kustomization.yaml", "  - name: tributary/record-parser\n    newTag: \"0.1.0\"\n", "  - name: tributary/record-parser\n    newTag: latest\n", "dev", "is not pinned to a version"},
		{"an image set apart", "overlays/dev/kustomization.yaml", "namespace: tributary-dev\n", "namespace: tributary-dev\nimages:\n  - name: tributary/s3-loader\n    newTag: \"0.2.0\"\n", "dev", "is not one components/images pins"},
		{"GOMEMLIMIT at the limit", "base/s3-loader.yaml", "              value: 460MiB\n", "              value: 512MiB\n", "dev", "GOMEMLIMIT 512MiB is 100% of the memory limit"},
		{"no budget for two replicas", "base/s3-loader.yaml", "kind: PodDisruptionBudget\n", "kind: PodDisruptionBudget\n", "dev", ""},
		{"a budget that lets none go", "base/record-parser.yaml", "  minAvailable: 1\n", "  minAvailable: 2\n", "prod", "lets no pod be drained"},
		{"no spread", "base/record-parser.yaml", "          topologyKey: kubernetes.io/hostname\n", "          topologyKey: kubernetes.io/os\n", "dev", "without a topology spread"},
		{"the downloader as a Deployment", "base/record-downloader.yaml", "kind: StatefulSet\n", "kind: Deployment\n", "dev", ""},
		{"the parser writing the downloader's claim", "base/record-parser.yaml", "            claimName: record-downloader-data\n            readOnly: true\n", "            claimName: record-downloader-data\n", "dev", ""},
		{"a Service scraped too", "base/topic-archiver.yaml", "  name: topic-archiver\n  labels:\n    app.kubernetes.io/name: topic-archiver\nspec:\n  type: ClusterIP\n", "  name: topic-archiver\n  labels:\n    app.kubernetes.io/name: topic-archiver\n  annotations:\n    prometheus.io/scrape: \"true\"\nspec:\n  type: ClusterIP\n", "dev", "would scrape them twice"},
		{"no storage class", "overlays/dev/params.yaml", "  storageClassName: standard-rwx\n", "  storageClass: standard-rwx\n", "dev", "storageClassName"},
		{"a variable the service does not read", "base/kustomization.yaml", "      - CONSENSUS_MODE=STAKE\n", "      - CONSENSUS_MODE=STAKE\n      - TARGET=host=postgres\n", "dev", "sets TARGET, which record-downloader --help does not list"},
		{"readiness on the dependencies", "base/record-parser.yaml", "              path: /readyz\n", "              path: /readyz?verbose\n", "dev", "the readiness probe must GET /readyz"},
		{"a resource that is not there", "overlays/prod/kustomization.yaml", "  - external-secrets.yaml\n", "  - external-secret.yaml\n", "prod", "kustomize"},
		{"no Namespace", "overlays/dev/kustomization.yaml", "  - namespace.yaml\n", "", "dev", "no Namespace in the rendering"},
		{"a Namespace that lets privileged pods in", "overlays/prod/namespace.yaml", "    pod-security.kubernetes.io/enforce: restricted\n", "    pod-security.kubernetes.io/enforce: baseline\n", "prod", "enforces Pod Security \"baseline\", want restricted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys, err := LoadTree(repoRoot)
			if err != nil {
				t.Fatal(err)
			}
			path := TreeRoot + "/" + c.file
			b, err := fsys.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), c.old) {
				t.Fatalf("%s no longer holds %q: update the planted mistake", c.file, c.old)
			}
			planted := strings.Replace(string(b), c.old, c.new, 1)
			if c.name == "no budget for two replicas" {
				// Drop the whole PodDisruptionBudget document.
				docs := strings.Split(planted, "\n---\n")
				var keep []string
				for _, d := range docs {
					if !strings.Contains(d, "kind: PodDisruptionBudget") {
						keep = append(keep, d)
					}
				}
				planted = strings.Join(keep, "\n---\n")
				c.want = "runs 2 replicas but no PodDisruptionBudget selects it"
			}
			switch c.name {
			case "the downloader as a Deployment":
				c.want = "must be a StatefulSet of one replica"
				planted = strings.Replace(planted, "  serviceName: record-downloader\n  podManagementPolicy: OrderedReady\n", "", 1)
				planted = strings.Replace(planted, "  updateStrategy:\n    type: RollingUpdate\n", "", 1)
			case "the parser writing the downloader's claim":
				planted = strings.Replace(planted, "              mountPath: /data\n              readOnly: true\n", "              mountPath: /data\n", 1)
				c.want = "mounts record-downloader-data writable"
			}
			if err := fsys.WriteFile(path, []byte(planted)); err != nil {
				t.Fatal(err)
			}
			errs := checkOverlay(t, fsys, c.overlay)
			for _, e := range errs {
				if strings.Contains(e.Error(), c.want) {
					return
				}
			}
			t.Fatalf("planted %s: no error says %q; got %v", c.name, c.want, errs)
		})
	}
}
