package infra_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/smartx-team/overcloud/infra"
	"github.com/smartx-team/overcloud/infra/cloudinit"
	"github.com/smartx-team/overcloud/infra/cloudinit/cloudinittest"
	"github.com/smartx-team/overcloud/infra/infratest"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	apiIP   = "203.0.113.10"
	mockAMI = "ami-0123456789abcdef0"
	admin   = "198.51.100.7/32"
	edge    = "192.0.2.0/24"
)

// stack is what one run declared.
type stack struct {
	rs                         []pulumitest.Resource
	kubeconfig, join, endpoint string
	secret                     map[string]bool
	readyNodes                 int
	readyKubeconfig            string
}

func baseArgs() *infra.Args {
	return &infra.Args{
		Owner: "energy-team", AdminCIDRs: []string{admin}, EdgeCIDRs: []string{edge}, NAT: true,
		Nodes: map[string]infra.NodeGroup{
			infra.RoleTower:   {InstanceType: "t3.large", Count: 2, DiskGB: 40},
			infra.RoleHub:     {InstanceType: "t4g.small", Count: 1, DiskGB: 20},
			infra.RoleStorage: {InstanceType: "t3.medium", Count: 1, DiskGB: 80, Taints: []string{"smartx.io/dedicated=storage:NoSchedule"}},
		},
	}
}

func run(t *testing.T, args *infra.Args) *stack {
	t.Helper()
	m := &infratest.Mocks{}
	s := &stack{secret: map[string]bool{}}
	var mu sync.Mutex
	args.Ready = func(_ context.Context, kubeconfig string, nodes int) error {
		mu.Lock()
		defer mu.Unlock()
		s.readyNodes, s.readyKubeconfig = nodes, kubeconfig
		return nil
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		oc, err := infra.New(ctx, "overcloud", args)
		if err != nil {
			return err
		}
		for name, o := range map[string]pulumi.StringOutput{"kubeconfig": oc.Kubeconfig, "join": oc.JoinCommand, "endpoint": oc.APIEndpoint} {
			name, o := name, o
			o.ApplyT(func(v string) string {
				mu.Lock()
				defer mu.Unlock()
				s.secret[name] = pulumi.IsSecret(o)
				switch name {
				case "kubeconfig":
					s.kubeconfig = v
				case "join":
					s.join = v
				default:
					s.endpoint = v
				}
				return v
			})
		}
		return nil
	}, pulumi.WithMocks("smartx", "aws-test", m))
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	s.rs = m.Resources()
	return s
}

func of(s *stack, typ string) []pulumitest.Resource { return pulumitest.Of(s.rs, typ) }

func find(t *testing.T, s *stack, typ, name string) pulumitest.Resource {
	t.Helper()
	r, err := pulumitest.Find(s.rs, typ, name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// plain returns a property as Go values, secrets unwrapped.
func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsOutput():
		return plain(v.OutputValue().Element)
	case v.IsArray():
		var out []any
		for _, e := range v.ArrayValue() {
			out = append(out, plain(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = plain(e)
		}
		return out
	}
	return v.V
}

func in(r pulumitest.Resource, k string) any { return plain(r.Inputs[resource.PropertyKey(k)]) }

// rule is one security group ingress rule, comparable.
type rule struct {
	Protocol string
	From, To float64
	CIDRs    string
}

func rules(r pulumitest.Resource, key string) []rule {
	var out []rule
	list, _ := in(r, key).([]any)
	for _, e := range list {
		m := e.(map[string]any)
		var cidrs []string
		for _, c := range m["cidrBlocks"].([]any) {
			cidrs = append(cidrs, c.(string))
		}
		out = append(out, rule{m["protocol"].(string), m["fromPort"].(float64), m["toPort"].(float64), strings.Join(cidrs, ",")})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func TestSecurityGroupsOpenOnlyWhereNeeded(t *testing.T) {
	s := run(t, baseArgs())
	nodes := find(t, s, "aws:ec2/securityGroup:SecurityGroup", "overcloud-fw-nodes")
	api := find(t, s, "aws:ec2/securityGroup:SecurityGroup", "overcloud-fw-api")
	wantNodes := []rule{{"-1", 0, 0, infra.DefaultVPC}, {"tcp", 22, 22, admin}}
	wantAPI := []rule{{"tcp", 443, 443, admin}, {"tcp", 6443, 6443, edge}, {"tcp", 6443, 6443, admin}}
	if got := rules(nodes, "ingress"); fmt.Sprint(got) != fmt.Sprint(wantNodes) {
		t.Errorf("nodes ingress = %v, want %v", got, wantNodes)
	}
	if got := rules(api, "ingress"); fmt.Sprint(got) != fmt.Sprint(wantAPI) {
		t.Errorf("api ingress = %v, want %v", got, wantAPI)
	}
	if got := rules(nodes, "egress"); fmt.Sprint(got) != fmt.Sprint([]rule{{"-1", 0, 0, "0.0.0.0/0"}}) {
		t.Errorf("nodes egress = %v", got)
	}
	if got := rules(api, "egress"); len(got) != 0 {
		t.Errorf("api group has egress rules %v", got)
	}
	if n := len(of(s, "aws:ec2/securityGroup:SecurityGroup")); n != 2 {
		t.Errorf("%d security groups, want 2", n)
	}
	for _, sg := range of(s, "aws:ec2/securityGroup:SecurityGroup") {
		for _, r := range rules(sg, "ingress") {
			if strings.Contains(r.CIDRs, "0.0.0.0/0") {
				t.Errorf("%s: %v is open to the internet", sg.Name, r)
			}
		}
	}

	// No edge CIDRs: no edge rule. A public dashboard opens 443 only.
	a := baseArgs()
	a.EdgeCIDRs, a.WebCIDRs = nil, []string{"0.0.0.0/0"}
	s = run(t, a)
	api = find(t, s, "aws:ec2/securityGroup:SecurityGroup", "overcloud-fw-api")
	want := []rule{{"tcp", 443, 443, "0.0.0.0/0"}, {"tcp", 6443, 6443, admin}}
	if got := rules(api, "ingress"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("api ingress with public dashboard = %v, want %v", got, want)
	}
}

func TestAdminAccessIsNeverOpenByDefault(t *testing.T) {
	// Each bad Args is refused with ErrConfig and an error naming the config key.
	for name, tc := range map[string]struct {
		mutate func(a *infra.Args)
		key    string
	}{
		"no admin cidrs": {func(a *infra.Args) { a.AdminCIDRs = nil }, "smartx:adminCidrs"},
		"open admin":     {func(a *infra.Args) { a.AdminCIDRs = []string{"0.0.0.0/0"} }, "smartx:adminCidrs"},
		"open edge":      {func(a *infra.Args) { a.EdgeCIDRs = []string{"0.0.0.0/0"} }, "smartx:edgeCidrs"},
		"bad web cidr":   {func(a *infra.Args) { a.WebCIDRs = []string{"web"} }, "smartx:webCidrs"},
		"not a cidr":     {func(a *infra.Args) { a.AdminCIDRs = []string{"198.51.100.7"} }, "smartx:adminCidrs"},
		"host bits":      {func(a *infra.Args) { a.AdminCIDRs = []string{"198.51.100.7/24"} }, "smartx:adminCidrs"},
		"no owner":       {func(a *infra.Args) { a.Owner = "" }, "smartx:owner"},
		"no tower": {func(a *infra.Args) { a.Nodes[infra.RoleTower] = infra.NodeGroup{InstanceType: "t3.large", DiskGB: 40} },
			"smartx:nodes.tower.count"},
		"one zone": {func(a *infra.Args) { a.AZs = 1 }, "smartx:azCount"},
		"small disk": {func(a *infra.Args) {
			a.Nodes[infra.RoleHub] = infra.NodeGroup{InstanceType: "t3.small", Count: 1, DiskGB: 8}
		}, "smartx:nodes.hub.diskGb"},
		"bad instance type": {func(a *infra.Args) {
			a.Nodes[infra.RoleHub] = infra.NodeGroup{InstanceType: "small", Count: 1, DiskGB: 20}
		}, "smartx:nodes.hub.instanceType"},
		"bad taint": {func(a *infra.Args) {
			a.Nodes[infra.RoleHub] = infra.NodeGroup{InstanceType: "t3.small", Count: 1, DiskGB: 20, Taints: []string{"x"}}
		}, "smartx:nodes.hub"},
		"bad ami":              {func(a *infra.Args) { a.AMI = "debian" }, "smartx:ami"},
		"bad ssh key":          {func(a *infra.Args) { a.SSHKeyName = "key\n" }, "smartx:sshKeyName"},
		"bad os":               {func(a *infra.Args) { a.OS = "windows" }, "smartx:nodeOs"},
		"unknown role":         {func(a *infra.Args) { a.Nodes["gpu"] = infra.NodeGroup{InstanceType: "t3.small", Count: 1, DiskGB: 20} }, "smartx:nodes"},
		"vpc too small":        {func(a *infra.Args) { a.VPCCIDR = "10.0.0.0/24" }, "smartx:vpcCidr"},
		"k3s version floating": {func(a *infra.Args) { a.K3sVersion = "latest" }, "smartx:k3sVersion"},
	} {
		t.Run(name, func(t *testing.T) {
			a := baseArgs()
			tc.mutate(a)
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := infra.New(ctx, "overcloud", a)
				return err
			}, pulumi.WithMocks("smartx", "aws-test", &infratest.Mocks{}))
			if !errors.Is(err, infra.ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("New: %v, want an error naming %s", err, tc.key)
			}
		})
	}
	a := baseArgs()
	a.AdminCIDRs, a.AllowOpenAdmin = []string{"0.0.0.0/0"}, true
	s := run(t, a)
	if got := rules(find(t, s, "aws:ec2/securityGroup:SecurityGroup", "overcloud-fw-nodes"), "ingress"); !strings.Contains(fmt.Sprint(got), "0.0.0.0/0") {
		t.Errorf("explicitly allowed open admin access was not applied: %v", got)
	}
}

func TestNetwork(t *testing.T) {
	for _, nat := range []bool{true, false} {
		t.Run(fmt.Sprintf("nat=%v", nat), func(t *testing.T) {
			a := baseArgs()
			a.NAT, a.AZs = nat, 3
			s := run(t, a)
			vpc := find(t, s, "aws:ec2/vpc:Vpc", "overcloud-net")
			if in(vpc, "cidrBlock") != infra.DefaultVPC {
				t.Errorf("vpc cidr %v", in(vpc, "cidrBlock"))
			}
			pub, priv, _ := infra.Subnets(infra.DefaultVPC, 3)
			zones := map[string]bool{}
			for i := 0; i < 3; i++ {
				p := find(t, s, "aws:ec2/subnet:Subnet", fmt.Sprintf("overcloud-net-public-%d", i))
				q := find(t, s, "aws:ec2/subnet:Subnet", fmt.Sprintf("overcloud-net-private-%d", i))
				if in(p, "cidrBlock") != pub[i] || in(q, "cidrBlock") != priv[i] || in(p, "availabilityZone") != in(q, "availabilityZone") {
					t.Errorf("zone %d: subnets %v %v", i, in(p, "cidrBlock"), in(q, "cidrBlock"))
				}
				if in(p, "mapPublicIpOnLaunch") != false || in(q, "mapPublicIpOnLaunch") != false {
					t.Errorf("zone %d: a subnet hands out public addresses by default", i)
				}
				zones[in(p, "availabilityZone").(string)] = true
			}
			if len(zones) != 3 || len(of(s, "aws:ec2/subnet:Subnet")) != 6 {
				t.Errorf("zones %v, %d subnets", zones, len(of(s, "aws:ec2/subnet:Subnet")))
			}
			if n := len(of(s, "aws:ec2/routeTableAssociation:RouteTableAssociation")); n != 6 {
				t.Errorf("%d route table associations, want 6", n)
			}
			public := find(t, s, "aws:ec2/routeTable:RouteTable", "overcloud-net-public")
			routes := in(public, "routes").([]any)
			if len(routes) != 1 || routes[0].(map[string]any)["gatewayId"] != "overcloud-net-id" || routes[0].(map[string]any)["cidrBlock"] != "0.0.0.0/0" {
				t.Errorf("public routes %v, want 0.0.0.0/0 to the internet gateway", routes)
			}
			private := find(t, s, "aws:ec2/routeTable:RouteTable", "overcloud-net-private")
			proutes, _ := in(private, "routes").([]any)
			nats := of(s, "aws:ec2/natGateway:NatGateway")
			if nat {
				if len(nats) != 1 || len(proutes) != 1 || proutes[0].(map[string]any)["natGatewayId"] != "overcloud-net-id" {
					t.Errorf("NAT: %d gateways, private routes %v", len(nats), proutes)
				}
				if in(nats[0], "subnetId") != "overcloud-net-public-0-id" {
					t.Errorf("NAT gateway in %v", in(nats[0], "subnetId"))
				}
			} else if len(nats) != 0 || len(proutes) != 0 {
				t.Errorf("no NAT: %d gateways, private routes %v", len(nats), proutes)
			}
		})
	}
}

func TestInstancesPerRole(t *testing.T) {
	for _, nat := range []bool{true, false} {
		t.Run(fmt.Sprintf("nat=%v", nat), func(t *testing.T) {
			a := baseArgs()
			a.NAT = nat
			s := run(t, a)
			insts := of(s, "aws:ec2/instance:Instance")
			if len(insts) != 4 {
				t.Fatalf("%d instances, want 4", len(insts))
			}
			profile := find(t, s, "aws:iam/instanceProfile:InstanceProfile", "overcloud-node")
			if in(profile, "role") != "overcloud-node-name" {
				t.Errorf("instance profile role %v", in(profile, "role"))
			}
			pub, _, _ := infra.Subnets(infra.DefaultVPC, 2)
			serverIP := strings.TrimSuffix(pub[0], "0/20") + "10"
			for _, inst := range insts {
				role := map[string]string{"overcloud-tower-0": infra.RoleTower, "overcloud-tower-1": infra.RoleTower,
					"overcloud-hub-0": infra.RoleHub, "overcloud-storage-0": infra.RoleStorage}[inst.Name]
				server := inst.Name == "overcloud-tower-0"
				if p, ok := pulumitest.ParentOf(s.rs, inst); !ok || p.Type != infra.TypeNodeGroup || p.Name != "overcloud-"+role {
					t.Errorf("%s: parent %v", inst.Name, p.Key())
				}
				if in(inst, "iamInstanceProfile") != "overcloud-node-name" {
					t.Errorf("%s: instance profile %v", inst.Name, in(inst, "iamInstanceProfile"))
				}
				if in(inst, "ami") != mockAMI {
					t.Errorf("%s: ami %v", inst.Name, in(inst, "ami"))
				}
				subnet := in(inst, "subnetId").(string)
				sgs := fmt.Sprint(in(inst, "vpcSecurityGroupIds"))
				switch {
				case server:
					if subnet != "overcloud-net-public-0-id" || in(inst, "privateIp") != serverIP || in(inst, "associatePublicIpAddress") != false {
						t.Errorf("server in %s at %v public %v", subnet, in(inst, "privateIp"), in(inst, "associatePublicIpAddress"))
					}
					if sgs != "[overcloud-fw-nodes-id overcloud-fw-api-id]" {
						t.Errorf("server security groups %s", sgs)
					}
				case nat:
					if !strings.HasPrefix(subnet, "overcloud-net-private-") || in(inst, "associatePublicIpAddress") != false {
						t.Errorf("%s: with NAT in %s, public %v", inst.Name, subnet, in(inst, "associatePublicIpAddress"))
					}
				default:
					if !strings.HasPrefix(subnet, "overcloud-net-public-") || in(inst, "associatePublicIpAddress") != true {
						t.Errorf("%s: without NAT in %s, public %v", inst.Name, subnet, in(inst, "associatePublicIpAddress"))
					}
				}
				if !server && sgs != "[overcloud-fw-nodes-id]" {
					t.Errorf("%s: security groups %s", inst.Name, sgs)
				}
				md := in(inst, "metadataOptions").(map[string]any)
				if md["httpTokens"] != "required" || md["httpPutResponseHopLimit"] != float64(1) {
					t.Errorf("%s: metadata options %v", inst.Name, md)
				}
				disk := in(inst, "rootBlockDevice").(map[string]any)
				if disk["encrypted"] != true || disk["volumeType"] != "gp3" || disk["volumeSize"] != float64(a.Nodes[role].DiskGB) {
					t.Errorf("%s: root disk %v", inst.Name, disk)
				}
				if in(inst, "instanceType") != a.Nodes[role].InstanceType {
					t.Errorf("%s: instance type %v", inst.Name, in(inst, "instanceType"))
				}
				ud := inst.Inputs["userData"]
				if !ud.ContainsSecrets() {
					t.Errorf("%s: user data is not secret", inst.Name)
				}
				node := cloudinittest.Boot(t, in(inst, "userData").(string))
				if got := fmt.Sprint(node.K3s["node-label"]); got != "["+infra.DefaultRoleLabel+"="+role+"]" {
					t.Errorf("%s: node labels %s, want %s=%s", inst.Name, got, infra.DefaultRoleLabel, role)
				}
				taints := fmt.Sprint(node.K3s["node-taint"])
				if role == infra.RoleStorage && taints != "[smartx.io/dedicated=storage:NoSchedule]" || role != infra.RoleStorage && node.K3s["node-taint"] != nil {
					t.Errorf("%s: taints %s", inst.Name, taints)
				}
				if server {
					if fmt.Sprint(node.K3s["tls-san"]) != "["+apiIP+" "+serverIP+"]" {
						t.Errorf("server tls-san %v", node.K3s["tls-san"])
					}
				} else if node.K3s["server"] != "https://"+serverIP+":6443" {
					t.Errorf("%s joins %v", inst.Name, node.K3s["server"])
				}
			}
			assoc := of(s, "aws:ec2/eipAssociation:EipAssociation")
			if len(assoc) != 1 || in(assoc[0], "instanceId") != "overcloud-tower-0-id" || in(assoc[0], "allocationId") != "eipalloc-overcloud-api" {
				t.Errorf("api address associations %v", assoc)
			}
		})
	}
}

// The nodes' role can be assumed by EC2 only and carries no permission, so nothing
// in the cluster can create AWS resources behind Pulumi's back; SSM is opt-in.
func TestNodeRoleHasNoPermissions(t *testing.T) {
	s := run(t, baseArgs())
	role := find(t, s, "aws:iam/role:Role", "overcloud-node")
	policy := in(role, "assumeRolePolicy").(string)
	if !strings.Contains(policy, `"Service":"ec2.amazonaws.com"`) || strings.Count(policy, `"Effect"`) != 1 || !strings.Contains(policy, `"sts:AssumeRole"`) {
		t.Errorf("trust policy %s", policy)
	}
	for _, typ := range []string{"aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"} {
		if n := len(of(s, typ)); n != 0 {
			t.Errorf("%d %s", n, typ)
		}
	}
	a := baseArgs()
	a.SSM = true
	s = run(t, a)
	att := of(s, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
	if len(att) != 1 || in(att[0], "policyArn") != infra.SSMPolicy {
		t.Errorf("SSM attachments %v", att)
	}
}

// Resource types that take no tags in AWS.
var untaggable = map[string]bool{
	"aws:ec2/routeTableAssociation:RouteTableAssociation": true,
	"aws:ec2/eipAssociation:EipAssociation":               true,
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":   true,
}

func TestEveryResourceIsTaggedAndParented(t *testing.T) {
	a := baseArgs()
	a.SSM = true
	s := run(t, a)
	var root pulumitest.Resource
	awsCount := 0
	for _, r := range s.rs {
		if r.Type == infra.TypeOverCloud {
			root = r
		}
	}
	if root.Name != "overcloud" || root.Parent != "" && !strings.HasSuffix(root.Parent, "pulumi:pulumi:Stack::smartx-aws-test") {
		t.Fatalf("overcloud component %+v", root)
	}
	for _, r := range s.rs {
		if r.Type == infra.TypeOverCloud {
			continue
		}
		// Every resource descends from the OverCloud component: destroying the stack
		// destroys it, and nothing is declared beside it.
		p, ok := pulumitest.ParentOf(s.rs, r)
		for ok && p.Type != infra.TypeOverCloud {
			p, ok = pulumitest.ParentOf(s.rs, p)
		}
		if !ok {
			t.Errorf("%s does not descend from the OverCloud", r.Key())
		}
		if !r.Custom {
			if !strings.HasPrefix(r.Type, "smartx:infra:") {
				t.Errorf("component %s: type token outside smartx:infra", r.Key())
			}
			continue
		}
		if !strings.HasPrefix(r.Type, "aws:") || untaggable[r.Type] {
			continue
		}
		awsCount++
		tags, _ := in(r, "tags").(map[string]any)
		for _, k := range []string{infra.TagStack, infra.TagRole, infra.TagOwner, "Name"} {
			if tags[k] == nil || tags[k] == "" {
				t.Errorf("%s: no %s tag (tags %v)", r.Key(), k, tags)
			}
		}
		if tags[infra.TagStack] != "aws-test" || tags[infra.TagOwner] != "energy-team" {
			t.Errorf("%s: tags %v", r.Key(), tags)
		}
	}
	if awsCount < 15 {
		t.Errorf("only %d taggable AWS resources checked", awsCount)
	}
	for _, r := range of(s, "aws:ec2/instance:Instance") {
		if vt, _ := in(r, "volumeTags").(map[string]any); vt[infra.TagRole] == nil {
			t.Errorf("%s: root volume untagged", r.Name)
		}
	}
}

// The tokens and CA keys reach AWS only inside secret inputs (the user data); the
// kubeconfig and the join command are secret outputs.
func TestSecretsStaySecret(t *testing.T) {
	s := run(t, baseArgs())
	found := map[string]bool{}
	for _, r := range s.rs {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(v string, secret bool) {
			if !strings.Contains(v, "SECRET-") {
				return
			}
			found[r.Key()] = true
			if !secret {
				t.Errorf("%s holds a secret in a plain input", r.Key())
			}
			if !strings.HasPrefix(r.Type, "tls:") && r.Type != "aws:ec2/instance:Instance" {
				t.Errorf("%s received a secret", r.Key())
			}
		})
	}
	if !found["aws:ec2/instance:Instance::overcloud-tower-0"] || !found["aws:ec2/instance:Instance::overcloud-hub-0"] {
		t.Errorf("secrets did not reach the nodes' user data: %v", found)
	}
	if !s.secret["kubeconfig"] || !s.secret["join"] || s.secret["endpoint"] {
		t.Errorf("secret outputs: %v (want kubeconfig and join secret, endpoint plain)", s.secret)
	}
	if !strings.Contains(s.join, "SECRET-token-overcloud-pki-agent-token") || strings.Contains(s.join, "server-token") {
		t.Errorf("join command does not carry the agent token (only): %s", s.join)
	}
	// Agents never receive the server token or a CA key.
	for _, name := range []string{"overcloud-hub-0", "overcloud-storage-0", "overcloud-tower-1"} {
		ud := in(find(t, s, "aws:ec2/instance:Instance", name), "userData").(string)
		if strings.Contains(ud, "server-token") || strings.Contains(ud, "SECRET-key") {
			t.Errorf("%s user data holds the server token or a CA key", name)
		}
	}
}

func TestOutputs(t *testing.T) {
	s := run(t, baseArgs())
	if s.endpoint != "https://"+apiIP+":6443" {
		t.Errorf("api endpoint %q", s.endpoint)
	}
	var k infra.Kubeconfig
	if err := yaml.Unmarshal([]byte(s.kubeconfig), &k); err != nil || len(k.Clusters) != 1 || len(k.Users) != 1 {
		t.Fatalf("kubeconfig %v:\n%s", err, s.kubeconfig)
	}
	if k.Clusters[0].Cluster.Server != s.endpoint || k.CurrentContext != infra.KubeconfigName {
		t.Errorf("kubeconfig points at %q", k.Clusters[0].Cluster.Server)
	}
	ca, _ := base64.StdEncoding.DecodeString(k.Clusters[0].Cluster.CertificateAuthorityData)
	key, _ := base64.StdEncoding.DecodeString(k.Users[0].User.ClientKeyData)
	if !strings.Contains(string(ca), "cert-overcloud-pki-server-ca") || !strings.Contains(string(key), "SECRET-key-overcloud-pki-admin") {
		t.Errorf("kubeconfig trusts %q with key %q", ca, key)
	}
	if s.readyNodes != 4 || s.readyKubeconfig != s.kubeconfig {
		t.Errorf("ready check waited for %d nodes (want 4) with a different kubeconfig: %v", s.readyNodes, s.readyKubeconfig != s.kubeconfig)
	}
	// The join command joins as a hub, with the CA hash of the server CA.
	wantToken := cloudinit.JoinToken("-----BEGIN CERTIFICATE-----\ncert-overcloud-pki-server-ca\n-----END CERTIFICATE-----\n", "SECRET-token-overcloud-pki-agent-token")
	for _, want := range []string{"K3S_URL='https://" + apiIP + ":6443'", "K3S_TOKEN='" + wantToken + "'", "--node-label '" + infra.DefaultRoleLabel + "=" + infra.RoleHub + "'"} {
		if !strings.Contains(s.join, want) {
			t.Errorf("join command lacks %s:\n%s", want, s.join)
		}
	}
	cloudinittest.Shellcheck(t, "join command", "#!/bin/sh\n"+s.join+"\n")
}

func TestAMI(t *testing.T) {
	a := baseArgs()
	a.AMI = "ami-0fedcba9876543210"
	s := run(t, a)
	for _, inst := range of(s, "aws:ec2/instance:Instance") {
		if in(inst, "ami") != a.AMI {
			t.Errorf("%s: ami %v, want the fixed %s", inst.Name, in(inst, "ami"), a.AMI)
		}
	}
	if infra.Arch("t4g.small") != "arm64" || infra.Arch("m7g.large") != "arm64" || infra.Arch("t3.large") != "x86_64" || infra.Arch("c6gn.large") != "arm64" {
		t.Error("Arch")
	}
}
