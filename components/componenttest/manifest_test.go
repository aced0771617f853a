package componenttest

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/smartx-team/overcloud/internal/pulumitest"
)

func kube(typ, name, parent string, deps ...string) pulumitest.Resource {
	return pulumitest.Resource{
		Type: typ, Name: name, Custom: true, Parent: parent, Deps: deps,
		Inputs: resource.PropertyMap{
			"metadata": resource.NewObjectProperty(resource.PropertyMap{
				"name": resource.NewProperty(name),
				"pw":   resource.MakeSecret(resource.NewProperty("revealed")),
			}),
		},
	}
}

const stackURN = "urn:pulumi:s::p::"

func TestManifestsOrder(t *testing.T) {
	comp := pulumitest.Resource{Type: "smartx:components:Function", Name: "f"}
	compURN := stackURN + "smartx:components:Function::f"
	rs := []pulumitest.Resource{
		// The Deployment depends on the whole component holding the ConfigMap.
		kube("kubernetes:apps/v1:Deployment", "d", "", compURN),
		comp,
		kube("kubernetes:core/v1:ConfigMap", "cm", compURN, stackURN+"kubernetes:core/v1:Namespace::ns"),
		kube("kubernetes:core/v1:Namespace", "ns", ""),
		{Type: "pulumi:providers:kubernetes", Name: "k8s", Custom: true},
	}
	ms, err := Manifests(rs)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range ms {
		order = append(order, m.Kind+"/"+m.Name)
	}
	if got := strings.Join(order, " "); got != "Namespace/ns ConfigMap/cm Deployment/d" {
		t.Errorf("order %s", got)
	}
	if ms[2].APIVersion != "apps/v1" || ms[1].APIVersion != "v1" || ms[1].Object["kind"] != "ConfigMap" {
		t.Errorf("types: %s %s", ms[2].APIVersion, ms[1].APIVersion)
	}
	if ms[0].Object["metadata"].(map[string]any)["pw"] != "revealed" {
		t.Error("secret value not revealed in the manifest")
	}
}

func TestManifestsErrors(t *testing.T) {
	a := kube("kubernetes:core/v1:ConfigMap", "a", "", stackURN+"kubernetes:core/v1:ConfigMap::b")
	b := kube("kubernetes:core/v1:ConfigMap", "b", "", stackURN+"kubernetes:core/v1:ConfigMap::a")
	if _, err := Manifests([]pulumitest.Resource{a, b}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	unnamed := pulumitest.Resource{Type: "kubernetes:core/v1:ConfigMap", Name: "x", Custom: true, Inputs: resource.PropertyMap{}}
	if _, err := Manifests([]pulumitest.Resource{unnamed}); err == nil || !strings.Contains(err.Error(), "metadata.name") {
		t.Errorf("an object without metadata.name: %v, want an error naming metadata.name", err)
	}
}
