// Package componenttest turns what a Pulumi program declared under the mock engine
// (recorded by internal/pulumitest) into Kubernetes manifests, in an order that a real
// API server can apply them in, for the tests of components/ and stacks/.
package componenttest

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// Manifest is one Kubernetes object as the Kubernetes provider would send it.
type Manifest struct {
	// Key of the Pulumi resource it came from.
	Key string
	// APIVersion, Kind, Namespace and Name identify the object.
	APIVersion, Kind, Namespace, Name string
	// Object is the whole object, JSON-ready, secret values revealed.
	Object map[string]any
}

// ID is "kind/namespace/name", for messages.
func (m Manifest) ID() string { return m.Kind + "/" + m.Namespace + "/" + m.Name }

// kindOrder ranks kinds the way installers (Helm, kubectl) create them when nothing
// else orders them: what others refer to first.
var kindOrder = map[string]int{
	"Namespace": 0, "CustomResourceDefinition": 1, "StorageClass": 1, "PriorityClass": 1,
	"ServiceAccount": 2, "Secret": 3, "ConfigMap": 4, "PersistentVolumeClaim": 5,
	"Service": 6, "StatefulSet": 7, "Deployment": 7, "Job": 8,
	"PodDisruptionBudget": 9, "NetworkPolicy": 9,
}

// Manifests turns every registered kubernetes:* resource into a manifest, ordered so
// that each comes after what it depends on (Pulumi dependencies, where a dependency on
// a component stands for all its Kubernetes descendants), ties broken by kind and
// name. Unnamed objects are an error: the provider would auto-name them, which makes
// Service DNS names unpredictable, so our components always name them.
func Manifests(rs []pulumitest.Resource) ([]Manifest, error) {
	var ms []Manifest
	index := map[string]int{} // resource key -> manifest index
	for _, r := range rs {
		apiVersion, kind, ok := kubeType(r.Type)
		if !ok || !r.Custom {
			continue
		}
		obj, _ := plain(resource.NewObjectProperty(r.Inputs)).(map[string]any)
		obj["apiVersion"], obj["kind"] = apiVersion, kind
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s: metadata.name is not set", r.Key())
		}
		ns, _ := meta["namespace"].(string)
		index[r.Key()] = len(ms)
		ms = append(ms, Manifest{Key: r.Key(), APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, Object: obj})
	}

	// Edges: dependency -> dependents, over manifest indexes.
	descendants := func(key string) []int {
		var out []int
		var visit func(k string)
		visit = func(k string) {
			if i, ok := index[k]; ok {
				out = append(out, i)
			}
			for _, c := range rs {
				if c.Parent != "" && pulumitest.KeyOfURN(c.Parent) == k {
					visit(c.Key())
				}
			}
		}
		visit(key)
		return out
	}
	after := make([][]int, len(ms))
	pending := make([]int, len(ms))
	for _, r := range rs {
		i, ok := index[r.Key()]
		if !ok {
			continue
		}
		seen := map[int]bool{}
		for _, d := range r.Deps {
			for _, j := range descendants(pulumitest.KeyOfURN(d)) {
				if j != i && !seen[j] {
					seen[j] = true
					after[j] = append(after[j], i)
					pending[i]++
				}
			}
		}
	}
	rank := func(i int) int {
		if o, ok := kindOrder[ms[i].Kind]; ok {
			return o
		}
		return 10
	}
	// The engine registers resources concurrently, so registration order is not
	// stable: ties go by kind rank, then kind, namespace and name.
	less := func(i, j int) bool {
		a, b := ms[i], ms[j]
		if rank(i) != rank(j) {
			return rank(i) < rank(j)
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	}
	done := make([]bool, len(ms))
	out := make([]Manifest, 0, len(ms))
	for len(out) < len(ms) {
		best := -1
		for i := range ms {
			if !done[i] && pending[i] == 0 && (best < 0 || less(i, best)) {
				best = i
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("dependency cycle among %d manifests", len(ms)-len(out))
		}
		done[best] = true
		out = append(out, ms[best])
		for _, j := range after[best] {
			pending[j]--
		}
	}
	return out, nil
}

// kubeType maps "kubernetes:apps/v1:Deployment" to ("apps/v1", "Deployment"); the
// core group is "v1".
func kubeType(token string) (apiVersion, kind string, ok bool) {
	parts := strings.Split(token, ":")
	if len(parts) != 3 || parts[0] != "kubernetes" {
		return "", "", false
	}
	apiVersion = strings.TrimPrefix(parts[1], "core/")
	return apiVersion, parts[2], true
}

// plain converts a property value to JSON-ready Go values, revealing secrets.
func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsOutput():
		return plain(v.OutputValue().Element)
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		n := v.NumberValue()
		if n == float64(int64(n)) {
			return int64(n)
		}
		return n
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		out := []any{}
		for _, e := range v.ArrayValue() {
			out = append(out, plain(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			if strings.HasPrefix(string(k), "__") {
				continue // engine bookkeeping such as __defaults
			}
			out[string(k)] = plain(e)
		}
		return out
	}
	return nil
}
