// Package pulumitest runs Pulumi programs under the mock engine and records what they
// declare, for the tests of components/, infra/ and stacks/ (as net/http/httptest does
// for HTTP). It knows no provider: infra/infratest adds the cloud providers' outputs,
// components/componenttest turns Kubernetes resources into manifests. It lives at the
// module root so that infra's tests need nothing of components.
package pulumitest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one resource the program registered.
type Resource struct {
	// Type is the Pulumi type token, Name the logical name.
	Type, Name string
	// Parent is the parent's URN ("" for the stack's direct children).
	Parent string
	// Custom is false for component resources.
	Custom bool
	// Provider is the provider reference ("urn::id") the engine would use.
	Provider string
	// Inputs as the engine received them; secret values stay marked secret.
	Inputs resource.PropertyMap
	// Deps are the URNs this resource depends on (inputs and DependsOn).
	Deps []string
}

// Key is "type::name", the last two parts of a URN, unique within a stack.
func (r Resource) Key() string { return r.Type + "::" + r.Name }

// Mocks records every resource; use it as pulumi.WithMocks' monitor. Safe for the
// concurrent calls the engine makes.
type Mocks struct {
	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewResource records the resource and echoes its inputs as outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Provider: args.Provider, Inputs: args.Inputs}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Deps = append(r.Deps, rpc.GetDependencies()...)
		for _, pd := range rpc.GetPropertyDependencies() {
			r.Deps = append(r.Deps, pd.GetUrns()...)
		}
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return args.Name + "-id", args.Inputs, nil
}

// Call answers invokes with their arguments.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// Resources returns what was registered, in registration order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// Run runs program under the mock engine for project and stack, with config given as
// "project:key" -> value (values of secretKeys are marked secret), and returns what it
// declared.
func Run(project, stack string, config map[string]string, secretKeys []string, program pulumi.RunFunc) (*Mocks, error) {
	m := &Mocks{}
	err := pulumi.RunErr(program, pulumi.WithMocks(project, stack, m), withConfig(config, secretKeys))
	return m, err
}

func withConfig(config map[string]string, secretKeys []string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config = config
		info.ConfigSecretKeys = secretKeys
	}
}

// KeyOfURN returns "type::name" of a URN (urn:pulumi:stack::project::parent$type::name),
// the Key of the resource it names.
func KeyOfURN(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return urn
	}
	qualified := parts[len(parts)-2]
	if i := strings.LastIndex(qualified, "$"); i >= 0 {
		qualified = qualified[i+1:]
	}
	return qualified + "::" + parts[len(parts)-1]
}

// Of returns the resources of type typ.
func Of(rs []Resource, typ string) []Resource {
	var out []Resource
	for _, r := range rs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the resource of type typ named name.
func Find(rs []Resource, typ, name string) (Resource, error) {
	for _, r := range rs {
		if r.Type == typ && r.Name == name {
			return r, nil
		}
	}
	return Resource{}, fmt.Errorf("no %s named %q", typ, name)
}

// Children returns the resources whose parent is p.
func Children(rs []Resource, p Resource) []Resource {
	var out []Resource
	for _, r := range rs {
		if r.Parent != "" && KeyOfURN(r.Parent) == p.Key() {
			out = append(out, r)
		}
	}
	return out
}

// ParentOf returns the parent of r, if it was recorded.
func ParentOf(rs []Resource, r Resource) (Resource, bool) {
	if r.Parent == "" {
		return Resource{}, false
	}
	k := KeyOfURN(r.Parent)
	for _, p := range rs {
		if p.Key() == k {
			return p, true
		}
	}
	return Resource{}, false
}

// Strings returns every string value in v with whether it was inside a secret,
// walking objects and arrays; fn is called for each.
func Strings(v resource.PropertyValue, fn func(s string, secret bool)) {
	walk(v, false, fn)
}

func walk(v resource.PropertyValue, secret bool, fn func(string, bool)) {
	switch {
	case v.IsSecret():
		walk(v.SecretValue().Element, true, fn)
	case v.IsOutput():
		o := v.OutputValue()
		walk(o.Element, secret || o.Secret, fn)
	case v.IsString():
		fn(v.StringValue(), secret)
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			walk(e, secret, fn)
		}
	case v.IsObject():
		for _, k := range v.ObjectValue().StableKeys() {
			walk(v.ObjectValue()[k], secret, fn)
		}
	}
}
