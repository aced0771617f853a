package pulumitest

import (
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestKeyOfURN(t *testing.T) {
	for _, tc := range []struct{ urn, want string }{
		{"urn:pulumi:dev::smartx::smartx:components:Kafka::kafka", "smartx:components:Kafka::kafka"},
		{"urn:pulumi:dev::smartx::smartx:components:SmartEnergy$smartx:components:Kafka::se-kafka", "smartx:components:Kafka::se-kafka"},
		// A name may hold single colons; only the last two "::" parts count.
		{"urn:pulumi:dev::smartx::kubernetes:core/v1:Service::a:b", "kubernetes:core/v1:Service::a:b"},
		{"not-a-urn", "not-a-urn"},
	} {
		if got := KeyOfURN(tc.urn); got != tc.want {
			t.Errorf("KeyOfURN(%q) = %q, want %q", tc.urn, got, tc.want)
		}
	}
}

type component struct{ pulumi.ResourceState }

// Run records parents, so Children and ParentOf walk the tree the program declared.
func TestRunRecordsTheTree(t *testing.T) {
	m, err := Run("p", "s", map[string]string{"p:k": "v"}, nil, func(ctx *pulumi.Context) error {
		var root, child component
		if err := ctx.RegisterComponentResource("test:index:Root", "root", &root); err != nil {
			return err
		}
		if err := ctx.RegisterComponentResource("test:index:Child", "child", &child, pulumi.Parent(&root)); err != nil {
			return err
		}
		var leaf component
		return ctx.RegisterComponentResource("test:index:Child", "leaf", &leaf, pulumi.Parent(&child))
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := m.Resources()
	root, err := Find(rs, "test:index:Root", "root")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(Of(rs, "test:index:Child")); got != 2 {
		t.Errorf("%d children recorded, want 2", got)
	}
	kids := Children(rs, root)
	if len(kids) != 1 || kids[0].Name != "child" {
		t.Fatalf("children of root: %+v", kids)
	}
	leaf, err := Find(rs, "test:index:Child", "leaf")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ParentOf(rs, leaf); !ok || p.Name != "child" {
		t.Errorf("parent of leaf: %+v %v", p, ok)
	}
	if _, ok := ParentOf(rs, root); ok {
		t.Error("root has a parent")
	}
	if _, err := Find(rs, "test:index:Root", "other"); err == nil {
		t.Error("found a resource that was not declared")
	}
}

func TestStringsMarksSecrets(t *testing.T) {
	v := resource.NewObjectProperty(resource.PropertyMap{
		"plain":  resource.NewProperty("a"),
		"secret": resource.MakeSecret(resource.NewProperty("b")),
		"list":   resource.NewProperty([]resource.PropertyValue{resource.NewProperty("c"), resource.MakeSecret(resource.NewProperty("d"))}),
	})
	got := map[string]bool{}
	Strings(v, func(s string, secret bool) { got[s] = secret })
	want := map[string]bool{"a": false, "b": true, "c": false, "d": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("strings and secrecy %v, want %v", got, want)
	}
}
