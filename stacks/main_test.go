package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/smartenergy"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/infra/aws"
	"github.com/smartx-team/overcloud/infra/infratest"
	"github.com/smartx-team/overcloud/infra/openstack"
	"github.com/smartx-team/overcloud/infra/overcloud"
	"github.com/smartx-team/overcloud/internal/pulumitest"
	"github.com/smartx-team/overcloud/stacks/program"
)

// Secret config of the test runs (the stack files hold none: users set them).
var secrets = map[string]string{
	"influxPassword": "influx-pass-7f3a", "influxToken": "influx-token-91bc", "mongoPassword": "mongo-pass-0d2e",
	"grafanaPassword": "grafana-pass-c4c4", "deviceTokens": `{"pi-1":"device-token-e8e8"}`,
}

const (
	hubImage    = "127.0.0.1:5000/hubbridge@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	senderImage = "127.0.0.1:5000/sender@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	// The images of the trainer, inference and the controller.
	inferenceImage  = "127.0.0.1:5000/inference@sha256:3333333333333333333333333333333333333333333333333333333333333333"
	trainerImage    = "127.0.0.1:5000/trainer@sha256:4444444444444444444444444444444444444444444444444444444444444444"
	controllerImage = "127.0.0.1:5000/controller@sha256:5555555555555555555555555555555555555555555555555555555555555555"
	dashboardImage  = "127.0.0.1:5000/dashboard@sha256:6666666666666666666666666666666666666666666666666666666666666666"
)

func project(t testing.TB) *workspace.Project {
	t.Helper()
	proj, err := workspace.LoadProject(filepath.Join("..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	return proj
}

// stackConfig returns the plain config of stacks/Pulumi.<stack>.yaml as the engine
// hands it to the program (objects as JSON).
func stackConfig(t testing.TB, stack string) map[string]string {
	t.Helper()
	ps, err := workspace.LoadProjectStack(nil, project(t), "Pulumi."+stack+".yaml")
	if err != nil {
		t.Fatalf("load Pulumi.%s.yaml: %v", stack, err)
	}
	m, err := ps.Config.Decrypt(config.NopDecrypter)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		out[k.String()] = v
	}
	return out
}

// runStack runs the program under the mock engine with cfg plus the test secrets
// and images.
func runStack(t testing.TB, cfg map[string]string) ([]pulumitest.Resource, error) {
	t.Helper()
	full := map[string]string{
		"smartx:hubbridgeImage": hubImage, "smartx:senderImage": senderImage,
		"smartx:inferenceImage": inferenceImage, "smartx:trainerImage": trainerImage, "smartx:controllerImage": controllerImage,
		// The stack files list their own; a stack on an existing cluster needs one too.
		"smartx:airConditioners": `["pi-1"]`,
	}
	var keys []string
	for k, v := range secrets {
		full["smartx:"+k] = v
		keys = append(keys, "smartx:"+k)
	}
	for k, v := range cfg {
		full[k] = v
	}
	m := &infratest.Mocks{}
	noWait := func(context.Context, string, int) error { return nil }
	err := pulumi.RunErr(func(ctx *pulumi.Context) error { return run(ctx, noWait) },
		pulumi.WithMocks(program.Project, "test", m),
		func(info *pulumi.RunInfo) { info.Config, info.ConfigSecretKeys = full, keys })
	return m.Resources(), err
}

func descendsFrom(rs []pulumitest.Resource, r pulumitest.Resource, typ string) bool {
	p, ok := pulumitest.ParentOf(rs, r)
	for ok {
		if p.Type == typ {
			return true
		}
		p, ok = pulumitest.ParentOf(rs, p)
	}
	return false
}

func TestAWSStacks(t *testing.T) {
	for _, stack := range []string{"aws-dev", "aws-prod"} {
		t.Run(stack, func(t *testing.T) {
			cfg := stackConfig(t, stack)
			rs, err := runStack(t, cfg)
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			a := mustArgs(t, cfg)
			want := 0
			for _, g := range a.Nodes {
				want += g.Count
			}
			if n := len(pulumitest.Of(rs, "aws:ec2/instance:Instance")); n != want {
				t.Errorf("%d instances, the stack file asks for %d", n, want)
			}
			if n := len(pulumitest.Of(rs, "aws:ec2/natGateway:NatGateway")); (n == 1) != a.NAT {
				t.Errorf("%d NAT gateways with natGateway %v", n, a.NAT)
			}
			// The service is deployed on the OverCloud's kubeconfig, kept secret.
			prov, err := pulumitest.Find(rs, "pulumi:providers:kubernetes", "k8s")
			if err != nil {
				t.Fatal(err)
			}
			kc := prov.Inputs["kubeconfig"]
			if !kc.ContainsSecrets() || !strings.Contains(fmt.Sprint(kc), "https://"+infratest.APIIP+":6443") {
				t.Errorf("kubernetes provider kubeconfig %v: want the OverCloud's, secret", kc)
			}
			if _, ok := prov.Inputs["context"]; ok {
				t.Error("kubernetes provider still names a kubeconfig context")
			}
			k8s := 0
			for _, r := range rs {
				switch {
				case strings.HasPrefix(r.Type, "kubernetes:"):
					k8s++
					if !strings.Contains(r.Provider, "::k8s::") {
						t.Errorf("%s uses provider %q", r.Key(), r.Provider)
					}
					if !descendsFrom(rs, r, smartenergy.TypeToken) {
						t.Errorf("%s is outside the SmartEnergy component", r.Key())
					}
				case strings.HasPrefix(r.Type, "aws:"), strings.HasPrefix(r.Type, "tls:"), strings.HasPrefix(r.Type, "random:"),
					strings.HasPrefix(r.Type, "smartx:infra:") && r.Type != overcloud.TypeOverCloud:
					if !descendsFrom(rs, r, overcloud.TypeOverCloud) {
						t.Errorf("%s is outside the OverCloud component", r.Key())
					}
				}
			}
			if k8s < 40 {
				t.Errorf("only %d Kubernetes resources: the service was not deployed", k8s)
			}
			ing, err := pulumitest.Find(rs, "kubernetes:networking.k8s.io/v1:Ingress", "dashboard")
			if err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprint(ing.Inputs)
			for _, want := range []string{"websecure", "traefik", "grafana", "3000"} {
				if !strings.Contains(s, want) {
					t.Errorf("dashboard ingress lacks %s: %s", want, s)
				}
			}
			// No secret value appears anywhere unmarked.
			for _, r := range rs {
				pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(v string, secret bool) {
					if !secret && (strings.Contains(v, "SECRET-") || strings.Contains(v, "influx-pass-7f3a")) {
						t.Errorf("%s holds a secret unmarked", r.Key())
					}
				})
			}
		})
	}
}

// The OpenStack stack makes the OverCloud on OpenStack and deploys the service on
// its kubeconfig in the same program, and declares nothing of AWS.
func TestOpenStackStack(t *testing.T) {
	cfg := stackConfig(t, "openstack-dev")
	rs, err := runStack(t, cfg)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	var a *openstack.Args
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		a, err = openstackArgs(ctx)
		return err
	}, pulumi.WithMocks(program.Project, "test", &infratest.Mocks{}), func(info *pulumi.RunInfo) { info.Config = cfg })
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, g := range a.Nodes {
		want += g.Count
	}
	if n := len(pulumitest.Of(rs, "openstack:compute/instance:Instance")); n != want || want != 3 {
		t.Errorf("%d instances, the stack file asks for %d", n, want)
	}
	prov, err := pulumitest.Find(rs, "pulumi:providers:kubernetes", "k8s")
	if err != nil {
		t.Fatal(err)
	}
	kc := prov.Inputs["kubeconfig"]
	if !kc.ContainsSecrets() || !strings.Contains(fmt.Sprint(kc), "https://"+infratest.APIIP+":6443") {
		t.Errorf("kubernetes provider kubeconfig %v: want the OverCloud's, secret", kc)
	}
	k8s := 0
	for _, r := range rs {
		switch {
		case strings.HasPrefix(r.Type, "aws:"):
			t.Errorf("an OpenStack stack declared %s", r.Key())
		case strings.HasPrefix(r.Type, "kubernetes:"):
			k8s++
			if !strings.Contains(r.Provider, "::k8s::") || !descendsFrom(rs, r, smartenergy.TypeToken) {
				t.Errorf("%s is not the service's on the OverCloud's provider", r.Key())
			}
		case strings.HasPrefix(r.Type, "openstack:"), strings.HasPrefix(r.Type, "tls:"), strings.HasPrefix(r.Type, "random:"):
			if !descendsFrom(rs, r, overcloud.TypeOverCloud) {
				t.Errorf("%s is outside the OverCloud component", r.Key())
			}
		}
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(v string, secret bool) {
			if !secret && (strings.Contains(v, "SECRET-") || strings.Contains(v, "influx-pass-7f3a")) {
				t.Errorf("%s holds a secret unmarked", r.Key())
			}
		})
	}
	if k8s < 40 {
		t.Errorf("only %d Kubernetes resources: the service was not deployed", k8s)
	}
	// The metadata service (169.254.169.254, port 80) serves the server's user data
	// with the CA keys to whatever reaches it; no pod of the service may: every
	// egress rule to addresses outside the cluster names ports, and none is 80.
	policies := pulumitest.Of(rs, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
	if len(policies) < 8 {
		t.Fatalf("only %d NetworkPolicies", len(policies))
	}
	for _, np := range policies {
		spec := infratest.Input(np, "spec").(map[string]any)
		if fmt.Sprint(spec["policyTypes"]) != "[Ingress Egress]" {
			t.Errorf("%s: policy types %v: egress is not restricted", np.Name, spec["policyTypes"])
		}
		rules, _ := spec["egress"].([]any)
		for _, e := range rules {
			rule := e.(map[string]any)
			if rule["to"] != nil {
				continue // to pods of the cluster
			}
			ports, _ := rule["ports"].([]any)
			if len(ports) == 0 {
				t.Errorf("%s: egress anywhere on every port", np.Name)
			}
			for _, p := range ports {
				if port := p.(map[string]any)["port"]; port == float64(80) {
					t.Errorf("%s: egress anywhere on port 80 reaches the metadata service", np.Name)
				}
			}
		}
	}
	// The ingress serves HTTPS on the floating IP, as on AWS.
	if _, err := pulumitest.Find(rs, "kubernetes:networking.k8s.io/v1:Ingress", "dashboard"); err != nil {
		t.Error(err)
	}
}

// With users, the AWS stack's ingress serves the operators' dashboard over HTTPS
// instead of Grafana, and the dashboard is marked as behind TLS by Traefik.
func TestAWSIngressServesTheDashboard(t *testing.T) {
	cfg := stackConfig(t, "aws-dev")
	cfg["smartx:dashboardImage"] = dashboardImage
	cfg["smartx:dashboardUsers"] = "kim:$2y$10$aws-dashboard-users"
	rs, err := runStack(t, cfg)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	ing, err := pulumitest.Find(rs, "kubernetes:networking.k8s.io/v1:Ingress", "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprint(ing.Inputs)
	for _, want := range []string{"websecure", "name:{dashboard}", "8090"} {
		if !strings.Contains(s, want) {
			t.Errorf("ingress lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, "3000") {
		t.Errorf("ingress still routes to Grafana: %s", s)
	}
}

func mustArgs(t *testing.T, cfg map[string]string) *aws.Args {
	t.Helper()
	var a *aws.Args
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		a, err = awsArgs(ctx)
		return err
	}, pulumi.WithMocks(program.Project, "test", &infratest.Mocks{}), func(info *pulumi.RunInfo) { info.Config = cfg })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return a
}

func TestExistingClusterSkipsInfra(t *testing.T) {
	for _, cfg := range []map[string]string{{}, {"smartx:cloud": "none"}} {
		rs, err := runStack(t, cfg)
		if err != nil {
			t.Fatalf("program: %v", err)
		}
		for _, r := range rs {
			if !strings.HasPrefix(r.Type, "kubernetes:") && !strings.HasPrefix(r.Type, "smartx:components:") && r.Type != "pulumi:providers:kubernetes" {
				t.Errorf("a stack on an existing cluster declared %s", r.Key())
			}
		}
		if len(rs) < 40 {
			t.Errorf("only %d resources", len(rs))
		}
	}
}

// Bad OverCloud config is refused with an error naming its config key.
func TestBadCloudConfigIsRejected(t *testing.T) {
	dev := stackConfig(t, "aws-dev")
	for _, tc := range []struct {
		name   string
		change map[string]string
		key    string
	}{
		{"cloud", map[string]string{"smartx:cloud": "gcp"}, "smartx:cloud"},
		{"no admin cidrs", map[string]string{"smartx:adminCidrs": "[]"}, "smartx:adminCidrs"},
		{"open admin", map[string]string{"smartx:adminCidrs": `["0.0.0.0/0"]`}, "smartx:adminCidrs"},
		{"open admin not allowed", map[string]string{"smartx:adminCidrs": `["0.0.0.0/0"]`, "smartx:allowOpenAdmin": "maybe"}, "smartx:allowOpenAdmin"},
		{"no owner", map[string]string{"smartx:owner": ""}, "smartx:owner"},
		{"nat", map[string]string{"smartx:natGateway": "sometimes"}, "smartx:natGateway"},
		{"ssm", map[string]string{"smartx:ssm": "on"}, "smartx:ssm"},
		{"zones", map[string]string{"smartx:azCount": "two"}, "smartx:azCount"},
		{"one zone", map[string]string{"smartx:azCount": "1"}, "smartx:azCount"},
		{"vpc", map[string]string{"smartx:vpcCidr": "10.0.0.0/8"}, "smartx:vpcCidr"},
		{"os", map[string]string{"smartx:nodeOs": "windows"}, "smartx:nodeOs"},
		{"nodes", map[string]string{"smartx:nodes": `{"tower": {"count": "one"}}`}, "smartx:nodes"},
		{"edge cidrs", map[string]string{"smartx:edgeCidrs": `["edge"]`}, "smartx:edgeCidrs"},
		// The same stack file on OpenStack needs OpenStack's keys.
		{"openstack without external network", map[string]string{"smartx:cloud": "openstack"}, "smartx:externalNetwork"},
		{"openstack with aws nodes", map[string]string{"smartx:cloud": "openstack", "smartx:externalNetwork": "public"}, "smartx:nodes.tower.flavor"},
		{"openstack subnet", map[string]string{"smartx:cloud": "openstack", "smartx:externalNetwork": "public", "smartx:nodes": "{}",
			"smartx:subnetCidr": "10.40.0.0"}, "smartx:subnetCidr"},
		{"openstack dns", map[string]string{"smartx:cloud": "openstack", "smartx:externalNetwork": "public", "smartx:nodes": "{}",
			"smartx:dnsNameservers": `"8.8.8.8"`}, "smartx:dnsNameservers"},
		{"openstack unknown role", map[string]string{"smartx:cloud": "openstack", "smartx:externalNetwork": "public",
			"smartx:nodes": `{"gpu": {"flavor": "g1", "count": 1, "diskGb": 20}}`}, "smartx:nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range dev {
				cfg[k] = v
			}
			for k, v := range tc.change {
				cfg[k] = v
			}
			_, err := runStack(t, cfg)
			if err == nil {
				t.Fatal("program accepted it")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
		})
	}
	delete(dev, "smartx:adminCidrs")
	_, err := runStack(t, dev)
	if err == nil {
		t.Fatal("program ran without adminCidrs")
	}
	if !strings.Contains(err.Error(), "smartx:adminCidrs") {
		t.Errorf("error %q does not name smartx:adminCidrs", err)
	}
}

// Pulumi.yaml declares every OverCloud key of both clouds with the program's
// defaults.
func TestProjectFileDeclaresOverCloudConfig(t *testing.T) {
	proj := project(t)
	for cloud, defaults := range map[string]map[string]string{CloudAWS: AWSDefaults, CloudOpenStack: OpenStackDefaults} {
		for k, def := range defaults {
			c, ok := proj.Config[k]
			if !ok || c.Description == "" {
				t.Errorf("Pulumi.yaml does not describe %s (%s)", k, cloud)
				continue
			}
			if got := fmt.Sprint(c.Default); got != def {
				t.Errorf("%s default %q, program's %q", k, got, def)
			}
		}
		for _, k := range OverCloudObjectKeys[cloud] {
			c, ok := proj.Config[k]
			if !ok || c.Description == "" {
				t.Errorf("Pulumi.yaml does not describe %s (%s)", k, cloud)
			}
			if got := fmt.Sprint(c.Default); got != "[]" && got != "map[]" {
				t.Errorf("%s default %s, want empty", k, got)
			}
		}
	}
	// The defaults documented for smartx:nodes are each cloud's.
	desc := proj.Config["nodes"].Description
	for _, r := range overcloud.Roles {
		g := aws.DefaultNodes[r]
		if want := fmt.Sprintf("%s {%s, %d, %d}", r, g.InstanceType, g.Count, g.DiskGB); !strings.Contains(desc, want) {
			t.Errorf("smartx:nodes description lacks AWS's %q", want)
		}
		o := openstack.DefaultNodes[r]
		if want := fmt.Sprintf("%s {%s, %d, %d}", r, o.Flavor, o.Count, o.DiskGB); !strings.Contains(desc, want) {
			t.Errorf("smartx:nodes description lacks OpenStack's %q", want)
		}
	}
	if !strings.Contains(desc, openstack.DefaultImage) {
		t.Errorf("smartx:nodes description lacks the default image %s", openstack.DefaultImage)
	}
}

// The cost table of infra/README.md is what MonthlyCost computes from the stack files.
func TestCostTableMatchesStacks(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "infra", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range []string{"aws-dev", "aws-prod"} {
		a := mustArgs(t, stackConfig(t, stack))
		c, err := aws.MonthlyCost(a)
		if err != nil {
			t.Fatalf("%s: %v", stack, err)
		}
		var nodes []string
		instances, disks := 0.0, 0.0
		for _, r := range overcloud.Roles {
			g := a.Nodes[r]
			nodes = append(nodes, fmt.Sprintf("%d × %s %s (%d GB)", g.Count, r, g.InstanceType, g.DiskGB))
			instances += c.Instances[r]
			disks += c.Disks[r]
		}
		row := fmt.Sprintf("| %s | %s | $%.2f | $%.2f | $%.2f | $%.2f | **$%.2f** |",
			stack, strings.Join(nodes, ", "), instances, disks, c.NAT, c.PublicIPs, c.Total)
		if !strings.Contains(string(readme), row) {
			t.Errorf("infra/README.md lacks the cost row of %s:\n%s", stack, row)
		}
	}
	for _, want := range []string{aws.PriceRegion, aws.PriceDate} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("infra/README.md does not name the price region/date %s", want)
		}
	}
}

// Each cloud's SDK is compiled only where it is used: the service's packages, the
// shared OverCloud and its mock engine compile neither, and each cloud's package
// (its tests included) compiles only its own.
func TestCloudSDKsStayInTheirPackages(t *testing.T) {
	const (
		awsSDK       = "github.com/pulumi/pulumi-aws/"
		openstackSDK = "github.com/pulumi/pulumi-openstack/"
		mod          = "github.com/smartx-team/overcloud/"
	)
	for _, tc := range []struct {
		pkg  string
		deny []string
	}{
		{"./stacks/program", []string{awsSDK, openstackSDK, mod + "infra/"}},
		{"./components/...", []string{awsSDK, openstackSDK, mod + "infra/"}},
		{"./infra/overcloud/...", []string{awsSDK, openstackSDK, mod + "infra/aws", mod + "infra/openstack"}},
		{"./infra/overcloud/cloudinit", []string{"github.com/pulumi/"}},
		{"./infra/infratest", []string{awsSDK, openstackSDK}},
		{"./infra/aws", []string{openstackSDK, mod + "infra/openstack"}},
		{"./infra/openstack", []string{awsSDK, mod + "infra/aws"}},
	} {
		cmd := exec.Command("go", "list", "-deps", "-test", tc.pkg)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tc.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, d := range tc.deny {
				if strings.HasPrefix(dep, d) {
					t.Errorf("%s (with its tests) depends on %s", tc.pkg, dep)
				}
			}
		}
	}
}

// The node roles and label infra gives nodes are the ones the components place pods
// by. Only stacks, which composes both, may check it: infra imports nothing of
// components.
func TestRolesMatchComponents(t *testing.T) {
	if overcloud.DefaultRoleLabel != workload.DefaultRoleLabel {
		t.Errorf("role label %s, components use %s", overcloud.DefaultRoleLabel, workload.DefaultRoleLabel)
	}
	if fmt.Sprint(overcloud.Roles) != fmt.Sprint([]string{workload.RoleTower, workload.RoleHub, workload.RoleStorage}) {
		t.Errorf("roles %v", overcloud.Roles)
	}
}

// The topics the components configure are the reading contract's: the components
// know the functions only by image and settings, so nothing else ties the names.
func TestTopicsMatchReadingContract(t *testing.T) {
	if smartenergy.ReadingsTopic != reading.Topic || smartenergy.DeadLetterTopic != reading.DeadLetterTopic {
		t.Errorf("components use topics %s and %s, the reading contract %s and %s",
			smartenergy.ReadingsTopic, smartenergy.DeadLetterTopic, reading.Topic, reading.DeadLetterTopic)
	}
}
