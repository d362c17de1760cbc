package checks

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TreeRoot is where LoadTree puts deploy/k8s in its in-memory filesystem.
const TreeRoot = "/k8s"

// LoadTree copies the repository's deploy/k8s into an in-memory
// filesystem, with the overlays' local inputs that git does not hold
// stood in: each secrets/<service>.env from its committed .example, and
// each overlay's addressbook/0.0.102 from the repository's mainnet book.
func LoadTree(root string) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	src := filepath.Join(root, "deploy", "k8s")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.ToSlash(filepath.Join(TreeRoot, rel))
		if d.IsDir() {
			return mem.MkdirAll(dst)
		}
		// What an operator may have put there is not what CI renders.
		if strings.HasSuffix(p, ".env") || filepath.Base(p) == "0.0.102" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := mem.WriteFile(dst, b); err != nil {
			return err
		}
		if name, ok := strings.CutSuffix(dst, ".env.example"); ok {
			return mem.WriteFile(name+".env", b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	book, err := os.ReadFile(filepath.Join(root, "testdata", "hedera", "hedera-mirror-node", "addressbook", "main-resources", "mainnet-1769623200803405897"))
	if err != nil {
		return nil, err
	}
	overlays, err := os.ReadDir(filepath.Join(src, "overlays"))
	if err != nil {
		return nil, err
	}
	for _, o := range overlays {
		dir := TreeRoot + "/overlays/" + o.Name() + "/addressbook"
		if err := mem.MkdirAll(dir); err != nil {
			return nil, err
		}
		if err := mem.WriteFile(dir+"/0.0.102", book); err != nil {
			return nil, err
		}
	}
	return mem, nil
}

// Resource is one object of a rendering, decoded strictly into its type.
type Resource struct {
	Kind, APIVersion, Name, Namespace string
	YAML                              []byte
	Obj                               any
}

func (r Resource) String() string { return r.Kind + "/" + r.Name }

// ExternalSecret is the part of external-secrets.io/v1 ExternalSecret the
// overlays use; strict decoding fails any other field.
type ExternalSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		RefreshInterval string `json:"refreshInterval"`
		SecretStoreRef  struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"secretStoreRef"`
		Target struct {
			Name           string `json:"name"`
			CreationPolicy string `json:"creationPolicy"`
		} `json:"target"`
		DataFrom []struct {
			Extract struct {
				Key string `json:"key"`
			} `json:"extract"`
		} `json:"dataFrom"`
	} `json:"spec"`
}

// kinds are the types a rendering may hold, by apiVersion and kind.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
	"external-secrets.io/v1/ExternalSecret":   func() any { return &ExternalSecret{} },
}

// Render runs kustomize (the Go API behind `kubectl kustomize`) on path
// in fsys and decodes every object strictly into its Kubernetes type: an
// unknown or misspelt field, a wrong type or an unknown kind fails.
func Render(fsys filesys.FileSystem, path string) ([]Resource, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", path, err)
	}
	var out []Resource
	var errs []error
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		res := Resource{Kind: r.GetKind(), APIVersion: r.GetApiVersion(), Name: r.GetName(), Namespace: r.GetNamespace(), YAML: b}
		mk, ok := kinds[res.APIVersion+"/"+res.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s %s is not a kind the deploy files use (add it to deploy/checks with its type)", res, res.APIVersion, res.Kind))
			continue
		}
		res.Obj = mk()
		if err := yaml.UnmarshalStrict(b, res.Obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: strict decoding into %s: %w", res, res.Kind, err))
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// workload is a pod template and what owns it.
type workload struct {
	res      Resource
	replicas int32
	selector *metav1.LabelSelector
	template *corev1.PodTemplateSpec
}

func workloads(res []Resource) []workload {
	var out []workload
	for _, r := range res {
		switch o := r.Obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{r, replicas(o.Spec.Replicas), o.Spec.Selector, &o.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, workload{r, replicas(o.Spec.Replicas), o.Spec.Selector, &o.Spec.Template})
		}
	}
	return out
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// CheckPods holds every pod template of a rendering (the base's too) to
// the Pod Security "restricted" profile of the newest Kubernetes the
// library knows, and every workload's selector to its template.
func CheckPods(res []Resource) []error {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, w := range workloads(res) {
		r := policy.AggregateCheckResults(eval.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &w.template.ObjectMeta, &w.template.Spec))
		if !r.Allowed {
			errs = append(errs, fmt.Errorf("%s: Pod Security restricted forbids: %s", w.res, strings.Join(r.ForbiddenDetails, "; ")))
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || w.selector == nil || sel.Empty() {
			errs = append(errs, fmt.Errorf("%s: selector %v: %v", w.res, w.selector, err))
		} else if !sel.Matches(labels.Set(w.template.Labels)) {
			errs = append(errs, fmt.Errorf("%s: selector %s does not match the template's labels %v", w.res, sel, w.template.Labels))
		}
	}
	for _, r := range res {
		for _, msg := range validation.IsDNS1123Subdomain(r.Name) {
			errs = append(errs, fmt.Errorf("%s: name: %s", r, msg))
		}
	}
	return errs
}

// K8sPolicy is what an overlay's rendering must hold beyond what the API
// server would accept.
type K8sPolicy struct {
	// Vars are the variables each binary's --help lists.
	Vars map[string]map[string]bool
	// Images are the image versions of components/images, by name.
	Images map[string]string
	// StorageClass is the overlay's parameter.
	StorageClass string
	// Operator is set when the overlay takes components/prometheus-operator.
	Operator bool
}

// sdkVariables are read by the cloud SDKs the services use, not by their
// config: a Secret may hold them.
var sdkVariables = regexp.MustCompile(`^(AWS_[A-Z_]+|GOOGLE_APPLICATION_CREDENTIALS)$`)

// Check returns every way an overlay's rendering breaks the policy.
func (pol K8sPolicy) Check(res []Resource) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	byKind := map[string]map[string]Resource{}
	for _, r := range res {
		if byKind[r.Kind] == nil {
			byKind[r.Kind] = map[string]Resource{}
		}
		byKind[r.Kind][r.Name] = r
	}
	// Secrets a pod may name: generated ones and those the External
	// Secrets Operator will make.
	secretKeys := map[string]map[string]bool{}
	for name, r := range byKind["Secret"] {
		keys := map[string]bool{}
		for k := range r.Obj.(*corev1.Secret).Data {
			keys[k] = true
		}
		for k := range r.Obj.(*corev1.Secret).StringData {
			keys[k] = true
		}
		secretKeys[name] = keys
	}
	external := map[string]bool{}
	for _, r := range byKind["ExternalSecret"] {
		es := r.Obj.(*ExternalSecret)
		if es.Spec.Target.Name == "" || es.Spec.SecretStoreRef.Name == "" || len(es.Spec.DataFrom) == 0 {
			bad("%s: needs spec.target.name, spec.secretStoreRef and spec.dataFrom", r)
		}
		external[es.Spec.Target.Name] = true
	}

	// One Namespace, enforcing restricted, holding everything.
	var ns string
	for name, r := range byKind["Namespace"] {
		if ns != "" {
			bad("more than one Namespace: %s and %s", ns, name)
		}
		ns = name
		if l := r.Obj.(*corev1.Namespace).Labels["pod-security.kubernetes.io/enforce"]; l != "restricted" {
			bad("Namespace %s enforces Pod Security %q, want restricted", name, l)
		}
	}
	if ns == "" {
		bad("no Namespace in the rendering")
	}
	for _, r := range res {
		if r.Kind != "Namespace" && r.Namespace != ns {
			bad("%s is in namespace %q, not the overlay's %q", r, r.Namespace, ns)
		}
	}

	for _, r := range byKind["Service"] {
		for k := range r.Obj.(*corev1.Service).Annotations {
			if strings.HasPrefix(k, "prometheus.io/") {
				bad("%s has the annotation %s: pods are scraped through their own annotations, a Service's would scrape them twice", r, k)
			}
		}
	}
	for _, r := range byKind["PersistentVolumeClaim"] {
		pvc := r.Obj.(*corev1.PersistentVolumeClaim)
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != pol.StorageClass {
			bad("%s: storageClassName %v, want the overlay's parameter %q", r, pvc.Spec.StorageClassName, pol.StorageClass)
		}
		if len(pvc.Spec.AccessModes) == 0 || pvc.Spec.Resources.Requests.Storage().IsZero() {
			bad("%s: needs access modes and a storage request", r)
		}
	}

	wls := workloads(res)
	for _, w := range wls {
		t := w.template
		app := t.Labels["app.kubernetes.io/name"]
		// Scraping: the pod's annotations, or the operator's PodMonitor.
		want := "true"
		if pol.Operator {
			want = "false"
		}
		if got := t.Annotations["prometheus.io/scrape"]; got != want {
			bad("%s: pod annotation prometheus.io/scrape=%q, want %q", w.res, got, want)
		}
		// Every Secret, ConfigMap and claim it names is in the rendering.
		need := func(kind, name string, optional *bool) bool {
			if optional != nil && *optional {
				return false
			}
			switch kind {
			case "Secret":
				if _, ok := byKind["Secret"][name]; ok || external[name] {
					return true
				}
			default:
				if _, ok := byKind[kind][name]; ok {
					return true
				}
			}
			bad("%s names %s %q, which is not in the rendering", w.res, kind, name)
			return false
		}
		for _, v := range t.Spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				need("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Optional)
			case v.Secret != nil:
				need("Secret", v.Secret.SecretName, v.Secret.Optional)
			case v.PersistentVolumeClaim != nil:
				need("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName, nil)
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					if s.ConfigMap != nil {
						need("ConfigMap", s.ConfigMap.Name, s.ConfigMap.Optional)
					}
					if s.Secret != nil {
						need("Secret", s.Secret.Name, s.Secret.Optional)
					}
				}
			}
		}
		for _, c := range append(append([]corev1.Container{}, t.Spec.InitContainers...), t.Spec.Containers...) {
			vars := pol.Vars[c.Name]
			if vars == nil {
				bad("%s: container %q is not one of the repository's binaries", w.res, c.Name)
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && need("ConfigMap", ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional) {
					for k := range byKind["ConfigMap"][ef.ConfigMapRef.Name].Obj.(*corev1.ConfigMap).Data {
						if vars != nil && !vars[k] && !runtimeVariables[k] {
							bad("%s: ConfigMap %s sets %s, which %s --help does not list", w.res, ef.ConfigMapRef.Name, k, c.Name)
						}
					}
				}
				if ef.SecretRef != nil && need("Secret", ef.SecretRef.Name, ef.SecretRef.Optional) {
					for k := range secretKeys[ef.SecretRef.Name] {
						if vars != nil && !vars[k] && !runtimeVariables[k] && !sdkVariables.MatchString(k) {
							bad("%s: Secret %s sets %s, which %s --help does not list", w.res, ef.SecretRef.Name, k, c.Name)
						}
					}
				}
			}
			var gomemlimit string
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					gomemlimit = e.Value
				}
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && need("ConfigMap", r.Name, r.Optional) {
					if _, ok := byKind["ConfigMap"][r.Name].Obj.(*corev1.ConfigMap).Data[r.Key]; !ok {
						bad("%s: env %s names key %s of ConfigMap %s, which it lacks", w.res, e.Name, r.Key, r.Name)
					}
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && need("Secret", r.Name, r.Optional) && secretKeys[r.Name] != nil && !secretKeys[r.Name][r.Key] {
					bad("%s: env %s names key %s of Secret %s, which it lacks", w.res, e.Name, r.Key, r.Name)
				}
			}
			// Pinned images from one place.
			name, tag, _ := strings.Cut(c.Image, ":")
			if want, ok := pol.Images[name]; !ok || tag != want {
				bad("%s: image %q is not one components/images pins (%v)", w.res, c.Image, pol.Images)
			}
			// GOMEMLIMIT at about 90% of the memory limit.
			limit := c.Resources.Limits.Memory()
			if limit.IsZero() {
				bad("%s: container %s has no memory limit", w.res, c.Name)
			} else if got, err := goMemLimit(gomemlimit); err != nil {
				bad("%s: GOMEMLIMIT %q: %v", w.res, gomemlimit, err)
			} else if ratio := float64(got) / float64(limit.Value()); ratio < 0.85 || ratio > 0.95 {
				bad("%s: GOMEMLIMIT %s is %.0f%% of the memory limit %s, want about 90%%", w.res, gomemlimit, ratio*100, limit)
			}
			// Readiness is the pod's own; liveness is the loop's.
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
				bad("%s: the readiness probe must GET /readyz (the pod itself; ?verbose adds the dependencies)", w.res)
			}
			if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
				bad("%s: the liveness probe must GET /healthz", w.res)
			}
		}
		// Two replicas or more: a budget that lets one go, and spread.
		if w.replicas >= 2 {
			covered := false
			for _, p := range byKind["PodDisruptionBudget"] {
				pdb := p.Obj.(*policyv1.PodDisruptionBudget)
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(t.Labels)) {
					continue
				}
				covered = true
				if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
					bad("%s: neither minAvailable nor maxUnavailable", p)
				}
				if m := pdb.Spec.MinAvailable; m != nil && m.IntValue() >= int(w.replicas) {
					bad("%s: minAvailable %s of %d replicas lets no pod be drained", p, m.String(), w.replicas)
				}
			}
			if !covered {
				bad("%s runs %d replicas but no PodDisruptionBudget selects it", w.res, w.replicas)
			}
			spread := false
			for _, c := range t.Spec.TopologySpreadConstraints {
				sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
				spread = spread || (err == nil && c.TopologyKey == "kubernetes.io/hostname" && sel.Matches(labels.Set(t.Labels)))
			}
			if !spread {
				bad("%s runs %d replicas without a topology spread over kubernetes.io/hostname", w.res, w.replicas)
			}
		}
		if app == "record-downloader" {
			if w.res.Kind != "StatefulSet" || w.replicas != 1 {
				bad("%s: the record-downloader must be a StatefulSet of one replica, so a partitioned node never makes two writers", w.res)
			}
		}
	}
	// The downloader's claim: written by the downloader only, read-only
	// for everyone else.
	for _, w := range wls {
		app := w.template.Labels["app.kubernetes.io/name"]
		for _, v := range w.template.Spec.Volumes {
			if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "record-downloader-data" || app == "record-downloader" {
				continue
			}
			ro := v.PersistentVolumeClaim.ReadOnly
			for _, c := range w.template.Spec.Containers {
				for _, m := range c.VolumeMounts {
					if m.Name == v.Name && !m.ReadOnly {
						ro = false
					}
				}
			}
			if !ro {
				bad("%s mounts record-downloader-data writable: only the record-downloader writes it", w.res)
			}
		}
	}
	if pol.Operator {
		if len(byKind["PrometheusRule"]) == 0 {
			bad("the prometheus-operator component is in use but there is no PrometheusRule")
		}
		for _, w := range wls {
			selected := false
			for _, p := range byKind["PodMonitor"] {
				sel, err := metav1.LabelSelectorAsSelector(&p.Obj.(*monitoringv1.PodMonitor).Spec.Selector)
				selected = selected || (err == nil && sel.Matches(labels.Set(w.template.Labels)))
			}
			if !selected {
				bad("%s: no PodMonitor selects its pods", w.res)
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// goMemLimit reads GOMEMLIMIT as the Go runtime does (a number of bytes
// with an optional B, KiB, MiB, GiB or TiB suffix).
func goMemLimit(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("not set")
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// PinnedImages reads components/images: image name to tag. A tag that
// is empty or latest is an error.
func PinnedImages(fsys filesys.FileSystem) (map[string]string, error) {
	b, err := fsys.ReadFile(TreeRoot + "/components/images/kustomization.yaml")
	if err != nil {
		return nil, err
	}
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, i := range k.Images {
		if i.NewTag == "" || i.NewTag == "latest" {
			return nil, fmt.Errorf("components/images: %s is not pinned to a version (newTag %q)", i.Name, i.NewTag)
		}
		name := i.Name
		if i.NewName != "" {
			name = i.NewName
		}
		out[name] = i.NewTag
	}
	return out, nil
}

// StorageClass is an overlay's storage class parameter (params.yaml).
func StorageClass(fsys filesys.FileSystem, overlay string) (string, error) {
	b, err := fsys.ReadFile(TreeRoot + "/overlays/" + overlay + "/params.yaml")
	if err != nil {
		return "", err
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		return "", err
	}
	return cm.Data["storageClassName"], nil
}

// UsesComponent says whether an overlay's kustomization names a component.
func UsesComponent(fsys filesys.FileSystem, overlay, component string) bool {
	b, err := fsys.ReadFile(TreeRoot + "/overlays/" + overlay + "/kustomization.yaml")
	return err == nil && bytes.Contains(b, []byte("../../components/"+component))
}
