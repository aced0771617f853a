package aws_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/smartx-team/overcloud/infra/aws"
	"github.com/smartx-team/overcloud/infra/infratest"
	"github.com/smartx-team/overcloud/infra/overcloud"
	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit"
	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit/cloudinittest"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	apiIP   = "203.0.113.10"
	mockAMI = "ami-0123456789abcdef0"
	admin   = "198.51.100.7/32"
	edge    = "192.0.2.0/24"
)

// stack is what one run declared.
type stack = infratest.Stack

func baseArgs() *aws.Args {
	return &aws.Args{
		Owner: "energy-team", AdminCIDRs: []string{admin}, EdgeCIDRs: []string{edge}, NAT: true,
		Nodes: map[string]aws.NodeGroup{
			overcloud.RoleTower:   {InstanceType: "t3.large", Count: 2, DiskGB: 40},
			overcloud.RoleHub:     {InstanceType: "t4g.small", Count: 1, DiskGB: 20},
			overcloud.RoleStorage: {InstanceType: "t3.medium", Count: 1, DiskGB: 80, Taints: []string{"smartx.io/dedicated=storage:NoSchedule"}},
		},
	}
}

func run(t *testing.T, args *aws.Args) *stack {
	t.Helper()
	return infratest.Run(t, "aws-test", func(ctx *pulumi.Context, ready overcloud.ReadyFunc) (infratest.Outputs, error) {
		args.Ready = ready
		oc, err := aws.New(ctx, "overcloud", args)
		if err != nil {
			return infratest.Outputs{}, err
		}
		return infratest.Outputs{Kubeconfig: oc.Kubeconfig, JoinCommand: oc.JoinCommand, APIEndpoint: oc.APIEndpoint}, nil
	})
}

func of(s *stack, typ string) []pulumitest.Resource { return s.Of(typ) }

func find(t *testing.T, s *stack, typ, name string) pulumitest.Resource {
	t.Helper()
	return s.Find(t, typ, name)
}

func in(r pulumitest.Resource, k string) any { return infratest.Input(r, k) }

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
		list, _ := m["cidrBlocks"].([]any)
		for _, c := range list {
			cidrs = append(cidrs, c.(string))
		}
		if self, _ := m["self"].(bool); self {
			cidrs = append(cidrs, "self")
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
	// Between nodes only k3s's own ports, from the nodes' group itself.
	wantNodes := []rule{{"tcp", 10250, 10250, "self"}, {"tcp", 22, 22, admin}, {"tcp", 6443, 6443, "self"}, {"udp", 8472, 8472, "self"}}
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
		mutate func(a *aws.Args)
		key    string
	}{
		"no admin cidrs": {func(a *aws.Args) { a.AdminCIDRs = nil }, "smartx:adminCidrs"},
		"open admin":     {func(a *aws.Args) { a.AdminCIDRs = []string{"0.0.0.0/0"} }, "smartx:adminCidrs"},
		"open edge":      {func(a *aws.Args) { a.EdgeCIDRs = []string{"0.0.0.0/0"} }, "smartx:edgeCidrs"},
		"bad web cidr":   {func(a *aws.Args) { a.WebCIDRs = []string{"web"} }, "smartx:webCidrs"},
		"not a cidr":     {func(a *aws.Args) { a.AdminCIDRs = []string{"198.51.100.7"} }, "smartx:adminCidrs"},
		"host bits":      {func(a *aws.Args) { a.AdminCIDRs = []string{"198.51.100.7/24"} }, "smartx:adminCidrs"},
		"no owner":       {func(a *aws.Args) { a.Owner = "" }, "smartx:owner"},
		"no tower": {func(a *aws.Args) { a.Nodes[overcloud.RoleTower] = aws.NodeGroup{InstanceType: "t3.large", DiskGB: 40} },
			"smartx:nodes.tower.count"},
		"one zone": {func(a *aws.Args) { a.AZs = 1 }, "smartx:azCount"},
		"small disk": {func(a *aws.Args) {
			a.Nodes[overcloud.RoleHub] = aws.NodeGroup{InstanceType: "t3.small", Count: 1, DiskGB: 8}
		}, "smartx:nodes.hub.diskGb"},
		"bad instance type": {func(a *aws.Args) {
			a.Nodes[overcloud.RoleHub] = aws.NodeGroup{InstanceType: "small", Count: 1, DiskGB: 20}
		}, "smartx:nodes.hub.instanceType"},
		"bad taint": {func(a *aws.Args) {
			a.Nodes[overcloud.RoleHub] = aws.NodeGroup{InstanceType: "t3.small", Count: 1, DiskGB: 20, Taints: []string{"x"}}
		}, "smartx:nodes.hub"},
		"bad ami":              {func(a *aws.Args) { a.AMI = "debian" }, "smartx:ami"},
		"bad ssh key":          {func(a *aws.Args) { a.SSHKeyName = "key\n" }, "smartx:sshKeyName"},
		"bad os":               {func(a *aws.Args) { a.OS = "windows" }, "smartx:nodeOs"},
		"unknown role":         {func(a *aws.Args) { a.Nodes["gpu"] = aws.NodeGroup{InstanceType: "t3.small", Count: 1, DiskGB: 20} }, "smartx:nodes"},
		"vpc too small":        {func(a *aws.Args) { a.VPCCIDR = "10.0.0.0/24" }, "smartx:vpcCidr"},
		"k3s version floating": {func(a *aws.Args) { a.K3sVersion = "latest" }, "smartx:k3sVersion"},
	} {
		t.Run(name, func(t *testing.T) {
			a := baseArgs()
			tc.mutate(a)
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := aws.New(ctx, "overcloud", a)
				return err
			}, pulumi.WithMocks("smartx", "aws-test", &infratest.Mocks{}))
			if !errors.Is(err, overcloud.ErrConfig) {
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
			if in(vpc, "cidrBlock") != aws.DefaultVPC {
				t.Errorf("vpc cidr %v", in(vpc, "cidrBlock"))
			}
			pub, priv, _ := aws.Subnets(aws.DefaultVPC, 3)
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
			pub, _, _ := aws.Subnets(aws.DefaultVPC, 2)
			serverIP := strings.TrimSuffix(pub[0], "0/20") + "10"
			for _, inst := range insts {
				role := map[string]string{"overcloud-tower-0": overcloud.RoleTower, "overcloud-tower-1": overcloud.RoleTower,
					"overcloud-hub-0": overcloud.RoleHub, "overcloud-storage-0": overcloud.RoleStorage}[inst.Name]
				server := inst.Name == "overcloud-tower-0"
				if p, ok := pulumitest.ParentOf(s.Resources, inst); !ok || p.Type != overcloud.TypeNodeGroup || p.Name != "overcloud-"+role {
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
				if got := fmt.Sprint(node.K3s["node-label"]); got != "["+overcloud.DefaultRoleLabel+"="+role+"]" {
					t.Errorf("%s: node labels %s, want %s=%s", inst.Name, got, overcloud.DefaultRoleLabel, role)
				}
				taints := fmt.Sprint(node.K3s["node-taint"])
				if role == overcloud.RoleStorage && taints != "[smartx.io/dedicated=storage:NoSchedule]" || role != overcloud.RoleStorage && node.K3s["node-taint"] != nil {
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
	if len(att) != 1 || in(att[0], "policyArn") != aws.SSMPolicy {
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
	for _, r := range s.Resources {
		if r.Type == overcloud.TypeOverCloud {
			root = r
		}
	}
	if root.Name != "overcloud" || root.Parent != "" && !strings.HasSuffix(root.Parent, "pulumi:pulumi:Stack::smartx-aws-test") {
		t.Fatalf("overcloud component %+v", root)
	}
	// Every resource descends from the OverCloud component: destroying the stack
	// destroys it, and nothing is declared beside it.
	for _, r := range s.Outside(overcloud.TypeOverCloud) {
		t.Errorf("%s does not descend from the OverCloud", r.Key())
	}
	for _, r := range s.Resources {
		if r.Type == overcloud.TypeOverCloud {
			continue
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
		for _, k := range []string{overcloud.TagStack, overcloud.TagRole, overcloud.TagOwner, "Name"} {
			if tags[k] == nil || tags[k] == "" {
				t.Errorf("%s: no %s tag (tags %v)", r.Key(), k, tags)
			}
		}
		if tags[overcloud.TagStack] != "aws-test" || tags[overcloud.TagOwner] != "energy-team" {
			t.Errorf("%s: tags %v", r.Key(), tags)
		}
	}
	if awsCount < 15 {
		t.Errorf("only %d taggable AWS resources checked", awsCount)
	}
	for _, r := range of(s, "aws:ec2/instance:Instance") {
		if vt, _ := in(r, "volumeTags").(map[string]any); vt[overcloud.TagRole] == nil {
			t.Errorf("%s: root volume untagged", r.Name)
		}
	}
}

// The tokens and CA keys reach AWS only inside secret inputs (the user data); the
// kubeconfig and the join command are secret outputs.
func TestSecretsStaySecret(t *testing.T) {
	s := run(t, baseArgs())
	found := s.CheckSecrets(t, func(typ string) bool { return strings.HasPrefix(typ, "tls:") || typ == "aws:ec2/instance:Instance" })
	if !found["aws:ec2/instance:Instance::overcloud-tower-0"] || !found["aws:ec2/instance:Instance::overcloud-hub-0"] {
		t.Errorf("secrets did not reach the nodes' user data: %v", found)
	}
	if !s.Secret["kubeconfig"] || !s.Secret["join"] || s.Secret["endpoint"] {
		t.Errorf("secret outputs: %v (want kubeconfig and join secret, endpoint plain)", s.Secret)
	}
	if !strings.Contains(s.Join, "SECRET-token-overcloud-pki-agent-token") || strings.Contains(s.Join, "server-token") {
		t.Errorf("join command does not carry the agent token (only): %s", s.Join)
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
	if s.Endpoint != "https://"+apiIP+":6443" {
		t.Errorf("api endpoint %q", s.Endpoint)
	}
	var k overcloud.Kubeconfig
	if err := yaml.Unmarshal([]byte(s.Kubeconfig), &k); err != nil || len(k.Clusters) != 1 || len(k.Users) != 1 {
		t.Fatalf("kubeconfig %v:\n%s", err, s.Kubeconfig)
	}
	if k.Clusters[0].Cluster.Server != s.Endpoint || k.CurrentContext != overcloud.KubeconfigName {
		t.Errorf("kubeconfig points at %q", k.Clusters[0].Cluster.Server)
	}
	ca, _ := base64.StdEncoding.DecodeString(k.Clusters[0].Cluster.CertificateAuthorityData)
	key, _ := base64.StdEncoding.DecodeString(k.Users[0].User.ClientKeyData)
	if !strings.Contains(string(ca), "cert-overcloud-pki-server-ca") || !strings.Contains(string(key), "SECRET-key-overcloud-pki-admin") {
		t.Errorf("kubeconfig trusts %q with key %q", ca, key)
	}
	if s.ReadyNodes != 4 || s.ReadyKubeconfig != s.Kubeconfig {
		t.Errorf("ready check waited for %d nodes (want 4) with a different kubeconfig: %v", s.ReadyNodes, s.ReadyKubeconfig != s.Kubeconfig)
	}
	// The join command joins as a hub, with the CA hash of the server CA.
	wantToken := cloudinit.JoinToken("-----BEGIN CERTIFICATE-----\ncert-overcloud-pki-server-ca\n-----END CERTIFICATE-----\n", "SECRET-token-overcloud-pki-agent-token")
	for _, want := range []string{"K3S_URL='https://" + apiIP + ":6443'", "K3S_TOKEN='" + wantToken + "'", "--node-label '" + overcloud.DefaultRoleLabel + "=" + overcloud.RoleHub + "'"} {
		if !strings.Contains(s.Join, want) {
			t.Errorf("join command lacks %s:\n%s", want, s.Join)
		}
	}
	cloudinittest.Shellcheck(t, "join command", "#!/bin/sh\n"+s.Join+"\n")
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
	if aws.Arch("t4g.small") != "arm64" || aws.Arch("m7g.large") != "arm64" || aws.Arch("t3.large") != "x86_64" || aws.Arch("c6gn.large") != "arm64" {
		t.Error("Arch")
	}
}
