package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modPkg is what the dependency rules read of one package of the module: its path and
// the module's packages it imports, both relative to the module ("infra/overcloud/cloudinit").
type modPkg struct {
	Path string
	// Main is set for a command (package main): what it links is what an image ships.
	Main bool
	// Imports by kind: "imports", "test imports" (the package's _test files),
	// "xtest imports" (package x_test) and "build-tagged imports" (files this
	// platform's build constraints leave out).
	Imports map[string][]string
	// Deps are the module's packages it links, directly or through others, tests left
	// out (go list's Deps, for this platform).
	Deps []string
}

// depRule is one rule of the layout. From selects the packages it constrains; Allow,
// when not nil, lists the only packages of ours they may import; Deny lists those
// they must not; NotBoth are two trees no package may import both of.
type depRule struct {
	Name   string
	From   string
	Except []string // packages of From the rule leaves out
	// Kinds limits the rule to these kinds of imports (nil: all of them).
	Kinds []string
	// ShippedOnly leaves out test helper packages, named "...test" by Go's habit
	// (servertest, sendertest), which only tests import.
	ShippedOnly bool
	// Links also checks every package a command of From links (its Deps): a shipped
	// package importing a helper that is exempt by name (sendertest, which imports the
	// test bed) would otherwise carry the test bed into the image unseen.
	Links   bool
	Allow   []string
	Deny    []string
	NotBoth [2]string
}

// layoutRules is the dependency rule of the repository (see README.md's folder table):
// the device and the functions are independent programs that share only the reading
// contract, the components know the functions only by image and settings, infra knows
// only the cluster, and stacks composes infra and components.
var layoutRules = []depRule{
	{Name: "device needs only itself and the reading contract", From: "device/...", Allow: []string{"device/...", "functions/reading"}},
	{Name: "functions know nothing of their deployment", From: "functions/...", Deny: []string{"components/...", "infra/...", "stacks/..."}},
	{Name: "components know the functions by image and config only", From: "components/...", Deny: []string{"functions/...", "infra/...", "stacks/..."}},
	{Name: "infra knows only the cluster", From: "infra/...", Deny: []string{"components/...", "functions/...", "stacks/...", "device/..."}},
	{Name: "one cloud knows nothing of another", From: "infra/aws", Deny: []string{"infra/openstack"}},
	{Name: "one cloud knows nothing of another", From: "infra/openstack", Deny: []string{"infra/aws"}},
	{Name: "what the clouds share knows no cloud", From: "infra/overcloud/...", Deny: []string{"infra/aws", "infra/openstack"}},
	{Name: "the reading contract stands alone", From: "functions/reading", Allow: []string{}},
	{Name: "the model contract stands alone", From: "functions/model", Allow: []string{}},
	{Name: "the mock engine is neutral", From: "internal/pulumitest", Allow: []string{}},
	{Name: "only stacks composes infra and components", From: "...", Except: []string{"stacks/..."}, NotBoth: [2]string{"infra/...", "components/..."}},
	{
		Name: "what ships in an image links no test bed or dev tool", From: "functions/...",
		Except: []string{"functions/testbed/...", "functions/devtools/...", "functions/e2e"},
		Kinds:  []string{"imports", "build-tagged imports"}, ShippedOnly: true, Links: true,
		Deny: []string{"functions/testbed/...", "functions/devtools/..."},
	},
}

// match reports whether path is pattern, or under it when pattern ends in "/..."
// ("..." alone matches everything).
func match(pattern, path string) bool {
	if pattern == "..." {
		return true
	}
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == tree || strings.HasPrefix(path, tree+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// checkLayout returns one message per import (or, for a rule with Links, per package a
// command links) that breaks a rule, naming the rule, the package and the import.
func checkLayout(rules []depRule, pkgs []modPkg) []string {
	var out []string
	for _, r := range rules {
		for _, p := range pkgs {
			if !match(r.From, p.Path) || matchAny(r.Except, p.Path) || r.ShippedOnly && strings.HasSuffix(p.Path, "test") {
				continue
			}
			hits := [2]string{}
			for _, kind := range slices.Sorted(maps.Keys(p.Imports)) {
				if r.Kinds != nil && !slices.Contains(r.Kinds, kind) {
					continue
				}
				for _, imp := range p.Imports[kind] {
					if imp == p.Path {
						continue // an external test package imports its package
					}
					if r.Allow != nil && !matchAny(r.Allow, imp) || matchAny(r.Deny, imp) {
						out = append(out, fmt.Sprintf("%s: %s %s %s", r.Name, p.Path, kind, imp))
					}
					for i, tree := range r.NotBoth {
						if tree != "" && match(tree, imp) && hits[i] == "" {
							hits[i] = kind + " " + imp
						}
					}
				}
			}
			if hits[0] != "" && hits[1] != "" {
				out = append(out, fmt.Sprintf("%s: %s %s and %s", r.Name, p.Path, hits[0], hits[1]))
			}
			if r.Links && p.Main {
				for _, dep := range p.Deps {
					if r.Allow != nil && !matchAny(r.Allow, dep) || matchAny(r.Deny, dep) {
						out = append(out, fmt.Sprintf("%s: %s links %s", r.Name, p.Path, dep))
					}
				}
			}
		}
	}
	return out
}

// listModule runs go list over the module at dir (no compile) and returns its packages
// with their imports of the module, tests included, and what each links.
func listModule(t *testing.T, dir string) []modPkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Name,Dir,Module,Error,Imports,TestImports,XTestImports,IgnoredGoFiles,Deps", "./...")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []modPkg
	dec := json.NewDecoder(stdout)
	for {
		var p struct {
			ImportPath, Name, Dir                                    string
			Module                                                   *struct{ Path string }
			Error                                                    *struct{ Err string }
			Imports, TestImports, XTestImports, IgnoredGoFiles, Deps []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil {
			t.Fatalf("go list %s: not in a module", p.ImportPath)
		}
		prefix := p.Module.Path + "/"
		ours := func(imports []string) []string {
			var out []string
			for _, imp := range imports {
				if rel, ok := strings.CutPrefix(imp, prefix); ok {
					out = append(out, rel)
				}
			}
			return out
		}
		path, _ := strings.CutPrefix(p.ImportPath, prefix)
		mp := modPkg{Path: path, Main: p.Name == "main", Deps: ours(p.Deps), Imports: map[string][]string{
			"imports": ours(p.Imports), "test imports": ours(p.TestImports), "xtest imports": ours(p.XTestImports),
		}}
		// A file for another platform (device/sensor's DHT22 driver) must keep the rules too.
		for _, f := range p.IgnoredGoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.ImportsOnly)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			var imports []string
			for _, s := range file.Imports {
				v, _ := strconv.Unquote(s.Path.Value)
				imports = append(imports, v)
			}
			mp.Imports["build-tagged imports"] = append(mp.Imports["build-tagged imports"], ours(imports)...)
		}
		pkgs = append(pkgs, mp)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	return pkgs
}

// TestDependencyRules checks the layout's dependency rules over every package of the
// module, tests included, with go list only (nothing is compiled).
func TestDependencyRules(t *testing.T) {
	pkgs := listModule(t, "..")
	// The rules would hold vacuously over a listing that missed the trees.
	for _, tree := range []string{"device/...", "functions/...", "functions/reading", "components/...", "infra/...", "internal/pulumitest", "stacks/..."} {
		if !slices.ContainsFunc(pkgs, func(p modPkg) bool { return match(tree, p.Path) }) {
			t.Errorf("go list found no package in %s", tree)
		}
	}
	// Nor would the check of what the commands link over a listing without their deps.
	if !slices.ContainsFunc(pkgs, func(p modPkg) bool {
		return p.Path == "functions/hubbridge" && p.Main && slices.Contains(p.Deps, "functions/hubbridge/wiring")
	}) {
		t.Error("go list gave no command functions/hubbridge linking functions/hubbridge/wiring")
	}
	for _, v := range checkLayout(layoutRules, pkgs) {
		t.Error(v)
	}
}

// The checker reports what breaks a rule, and nothing else.
func TestDependencyRulesReportViolations(t *testing.T) {
	pkg := func(path string, kind string, imports ...string) modPkg {
		return modPkg{Path: path, Imports: map[string][]string{kind: imports}}
	}
	for _, tc := range []struct {
		name string
		pkgs []modPkg
		want []string
	}{
		{
			name: "the layout as meant",
			pkgs: []modPkg{
				pkg("device/firmware", "imports", "device/queue", "functions/reading"),
				pkg("functions/reading", "xtest imports", "functions/reading"),
				pkg("components/smartenergy", "test imports", "components/workload", "internal/pulumitest"),
				pkg("infra/aws", "xtest imports", "infra/infratest", "infra/overcloud", "internal/pulumitest"),
				pkg("infra/openstack", "imports", "infra/overcloud"),
				pkg("stacks", "test imports", "infra/aws", "infra/openstack", "components/workload", "stacks/program"),
				pkg("functions/hubbridge/outbox", "test imports", "functions/testbed/servers/servertest"),
				pkg("functions/devtools/demo", "imports", "functions/testbed/localrun"),
				pkg("functions/sender/internal/sendertest", "imports", "functions/testbed/servers"),
				{Path: "functions/sender", Main: true, Deps: []string{"functions/reading", "functions/sender/wiring"}},
				{Path: "functions/devtools/demo", Main: true, Deps: []string{"functions/testbed/localrun", "functions/testbed/servers"}},
				// Only a command's links are checked: they already hold every library it ships.
				{Path: "functions/sender/wiring", Deps: []string{"functions/testbed/servers"}},
			},
		},
		{
			name: "a shipped function links the test bed",
			pkgs: []modPkg{pkg("functions/sender/wiring", "imports", "functions/testbed/promscrape")},
			want: []string{"what ships in an image links no test bed or dev tool: functions/sender/wiring imports functions/testbed/promscrape"},
		},
		{
			name: "a shipped command links the test bed through a helper exempt by name",
			pkgs: []modPkg{
				pkg("functions/sender/wiring", "imports", "functions/sender/internal/sendertest"),
				pkg("functions/sender/internal/sendertest", "imports", "functions/testbed/servers"),
				{
					Path: "functions/sender", Main: true, Imports: map[string][]string{"imports": {"functions/sender/wiring"}},
					Deps: []string{"functions/reading", "functions/sender/internal/sendertest", "functions/sender/wiring", "functions/testbed/servers"},
				},
			},
			want: []string{"what ships in an image links no test bed or dev tool: functions/sender links functions/testbed/servers"},
		},
		{
			name: "device imports a function",
			pkgs: []modPkg{pkg("device/firmware", "imports", "functions/hubbridge/outbox")},
			want: []string{"device needs only itself and the reading contract: device/firmware imports functions/hubbridge/outbox"},
		},
		{
			name: "a function's test imports a component",
			pkgs: []modPkg{pkg("functions/sender", "xtest imports", "components/sender")},
			want: []string{"functions know nothing of their deployment: functions/sender xtest imports components/sender"},
		},
		{
			name: "infra's test imports components",
			pkgs: []modPkg{pkg("infra/aws", "xtest imports", "components/workload")},
			want: []string{"infra knows only the cluster: infra/aws xtest imports components/workload"},
		},
		{
			name: "one cloud's test uses the other's package",
			pkgs: []modPkg{pkg("infra/openstack", "xtest imports", "infra/aws"), pkg("infra/overcloud", "imports", "infra/openstack")},
			want: []string{"one cloud knows nothing of another: infra/openstack xtest imports infra/aws",
				"what the clouds share knows no cloud: infra/overcloud imports infra/openstack"},
		},
		{
			name: "a component imports a function",
			pkgs: []modPkg{pkg("components/hubbridge", "imports", "functions/reading")},
			want: []string{"components know the functions by image and config only: components/hubbridge imports functions/reading"},
		},
		{
			name: "the contract imports a helper",
			pkgs: []modPkg{pkg("functions/reading", "test imports", "functions/testbed/fleet")},
			want: []string{"the reading contract stands alone: functions/reading test imports functions/testbed/fleet"},
		},
		{
			name: "the mock engine imports a component",
			pkgs: []modPkg{pkg("internal/pulumitest", "imports", "components/componenttest")},
			want: []string{"the mock engine is neutral: internal/pulumitest imports components/componenttest"},
		},
		{
			name: "a new tree composes infra and components",
			pkgs: []modPkg{{Path: "tools/deploy", Imports: map[string][]string{"imports": {"infra/aws"}, "test imports": {"components/kafka"}}}},
			want: []string{"only stacks composes infra and components: tools/deploy imports infra/aws and test imports components/kafka"},
		},
		{
			name: "a file for another platform",
			pkgs: []modPkg{pkg("device/sensor", "build-tagged imports", "infra/overcloud/cloudinit")},
			want: []string{"device needs only itself and the reading contract: device/sensor build-tagged imports infra/overcloud/cloudinit"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkLayout(layoutRules, tc.pkgs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
