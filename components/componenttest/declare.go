package componenttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// Declare runs declare under the mock engine with an explicit Kubernetes provider,
// as the stack passes one, and returns what it registered and its manifests by
// "Kind/name". It fails t if the program or the manifests fail.
func Declare(t testing.TB, declare func(ctx *pulumi.Context, provider pulumi.ResourceOption) error) ([]pulumitest.Resource, map[string]Manifest) {
	t.Helper()
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		return declare(ctx, pulumi.Provider(p))
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	ms, err := Manifests(m.Resources())
	if err != nil {
		t.Fatalf("manifests: %v", err)
	}
	byName := map[string]Manifest{}
	for _, mf := range ms {
		byName[mf.Kind+"/"+mf.Name] = mf
	}
	return m.Resources(), byName
}

// Field walks obj along map keys (string) and array indexes (int); nil where the path
// ends.
func Field(obj any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := obj.(map[string]any)
			obj = m[k]
		case int:
			a, _ := obj.([]any)
			if k >= len(a) {
				return nil
			}
			obj = a[k]
		}
	}
	return obj
}

// PolicyRules renders a NetworkPolicy's rules of dir ("ingress" or "egress", whose
// peers are under peer: "from" or "to") as "app:PROTOCOL port,..." ("*" for any
// address).
func PolicyRules(np Manifest, dir, peer string) []string {
	var out []string
	list, _ := Field(np.Object, "spec", dir).([]any)
	for _, r := range list {
		app := fmt.Sprint(Field(r, peer, 0, "podSelector", "matchLabels", "app.kubernetes.io/name"))
		if Field(r, peer) == nil {
			app = "*"
		}
		var ports []string
		ps, _ := Field(r, "ports").([]any)
		for _, p := range ps {
			ports = append(ports, fmt.Sprintf("%v %v", Field(p, "protocol"), Field(p, "port")))
		}
		out = append(out, app+":"+strings.Join(ports, ","))
	}
	return out
}

// Children checks a component's children: every resource but the Kubernetes provider
// and the component (typeToken, name) itself is named from name and has the component
// as an ancestor, and there is at least one. It fails t otherwise.
func Children(t testing.TB, rs []pulumitest.Resource, typeToken, name string) {
	t.Helper()
	comp, err := pulumitest.Find(rs, typeToken, name)
	if err != nil {
		t.Fatal(err)
	}
	children := 0
	for _, r := range rs {
		if r.Type == "pulumi:providers:kubernetes" || r.Key() == comp.Key() {
			continue
		}
		if !strings.HasPrefix(r.Name, name) {
			t.Errorf("%s is not named from the component's name", r.Key())
		}
		p, ok := pulumitest.ParentOf(rs, r)
		for ok && p.Key() != comp.Key() {
			p, ok = pulumitest.ParentOf(rs, p)
		}
		if !ok {
			t.Errorf("%s is outside the component", r.Key())
		}
		children++
	}
	if children == 0 {
		t.Fatal("no children")
	}
}
