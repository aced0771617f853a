package infratest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// Outputs are the outputs every cloud's OverCloud has.
type Outputs struct {
	Kubeconfig, JoinCommand, APIEndpoint pulumi.StringOutput
}

// Stack is what one run of an OverCloud program declared and output.
type Stack struct {
	Resources []pulumitest.Resource
	// Kubeconfig, Join and Endpoint are the outputs' values; Secret says which of
	// "kubeconfig", "join" and "endpoint" were secret.
	Kubeconfig, Join, Endpoint string
	Secret                     map[string]bool
	// ReadyNodes and ReadyKubeconfig are what the program's wait for the cluster
	// was called with.
	ReadyNodes      int
	ReadyKubeconfig string
}

// Run runs declare under the mocks as stack, handing it a wait for the cluster
// that records its arguments, and fails t if the program fails.
func Run(t *testing.T, stack string, declare func(ctx *pulumi.Context, ready overcloud.ReadyFunc) (Outputs, error)) *Stack {
	t.Helper()
	m := &Mocks{}
	s := &Stack{Secret: map[string]bool{}}
	var mu sync.Mutex
	ready := func(_ context.Context, kubeconfig string, nodes int) error {
		mu.Lock()
		defer mu.Unlock()
		s.ReadyNodes, s.ReadyKubeconfig = nodes, kubeconfig
		return nil
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		out, err := declare(ctx, ready)
		if err != nil {
			return err
		}
		for name, o := range map[string]pulumi.StringOutput{"kubeconfig": out.Kubeconfig, "join": out.JoinCommand, "endpoint": out.APIEndpoint} {
			o.ApplyT(func(v string) string {
				mu.Lock()
				defer mu.Unlock()
				s.Secret[name] = pulumi.IsSecret(o)
				switch name {
				case "kubeconfig":
					s.Kubeconfig = v
				case "join":
					s.Join = v
				default:
					s.Endpoint = v
				}
				return v
			})
		}
		return nil
	}, pulumi.WithMocks("smartx", stack, m))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	s.Resources = m.Resources()
	return s
}

// Find returns the resource of type typ named name, failing t if there is none.
func (s *Stack) Find(t *testing.T, typ, name string) pulumitest.Resource {
	t.Helper()
	r, err := pulumitest.Find(s.Resources, typ, name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Of returns the resources of type typ.
func (s *Stack) Of(typ string) []pulumitest.Resource { return pulumitest.Of(s.Resources, typ) }

// Input returns r's input k as plain Go values (see Plain).
func Input(r pulumitest.Resource, k string) any { return Plain(r.Inputs[resource.PropertyKey(k)]) }

// Plain returns a property as Go values (numbers as float64), secrets and outputs
// unwrapped.
func Plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsOutput():
		return Plain(v.OutputValue().Element)
	case v.IsArray():
		var out []any
		for _, e := range v.ArrayValue() {
			out = append(out, Plain(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = Plain(e)
		}
		return out
	}
	return v.V
}

// Outside returns the resources that do not descend from a resource of type root
// (root's own resources excepted): what `pulumi destroy` of that component would
// leave behind.
func (s *Stack) Outside(root string) []pulumitest.Resource {
	var out []pulumitest.Resource
	for _, r := range s.Resources {
		if r.Type == root {
			continue
		}
		p, ok := pulumitest.ParentOf(s.Resources, r)
		for ok && p.Type != root {
			p, ok = pulumitest.ParentOf(s.Resources, p)
		}
		if !ok {
			out = append(out, r)
		}
	}
	return out
}

// CheckSecrets fails t where a secret the mocks made (SecretMarker) is in a plain
// input, or in an input of a resource whose type may not receive one, and returns
// the keys of the resources that hold one.
func (s *Stack) CheckSecrets(t *testing.T, mayHold func(typ string) bool) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	for _, r := range s.Resources {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(v string, secret bool) {
			if !strings.Contains(v, "SECRET-") {
				return
			}
			found[r.Key()] = true
			if !secret {
				t.Errorf("%s holds a secret in a plain input", r.Key())
			}
			if !mayHold(r.Type) {
				t.Errorf("%s received a secret", r.Key())
			}
		})
	}
	return found
}
