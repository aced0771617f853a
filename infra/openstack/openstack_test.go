package openstack_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/smartx-team/overcloud/infra/infratest"
	"github.com/smartx-team/overcloud/infra/openstack"
	"github.com/smartx-team/overcloud/infra/overcloud"
	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit"
	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit/cloudinittest"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	admin  = "198.51.100.7/32"
	edge   = "192.0.2.0/24"
	sshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3yYbGXxLhQmYh0bX1p7f3wB4oQ2Z9sI8aXy3uKcV7 operator@tower"
	// Type tokens of the resources the tests look at.
	instanceType = "openstack:compute/instance:Instance"
	portType     = "openstack:networking/port:Port"
	ruleType     = "openstack:networking/secGroupRule:SecGroupRule"
	groupType    = "openstack:networking/secGroup:SecGroup"
	fipType      = "openstack:networking/floatingIp:FloatingIp"
	serverGroup  = "openstack:compute/serverGroup:ServerGroup"
)

func baseArgs() *openstack.Args {
	return &openstack.Args{
		Owner: "energy-team", AdminCIDRs: []string{admin}, EdgeCIDRs: []string{edge}, ExternalNetwork: "public",
		SSHPublicKey: sshKey,
		Nodes: map[string]openstack.NodeGroup{
			overcloud.RoleTower:   {Flavor: "m1.large", Count: 2, DiskGB: 40, Image: "debian-12-genericcloud"},
			overcloud.RoleHub:     {Flavor: "m1.small", Count: 1, DiskGB: 20},
			overcloud.RoleStorage: {Flavor: "m1.medium", Count: 1, DiskGB: 80, Taints: []string{"smartx.io/dedicated=storage:NoSchedule"}},
		},
	}
}

func run(t *testing.T, args *openstack.Args) *infratest.Stack {
	t.Helper()
	return infratest.Run(t, "openstack-test", func(ctx *pulumi.Context, ready overcloud.ReadyFunc) (infratest.Outputs, error) {
		args.Ready = ready
		oc, err := openstack.New(ctx, "overcloud", args)
		if err != nil {
			return infratest.Outputs{}, err
		}
		return infratest.Outputs{Kubeconfig: oc.Kubeconfig, JoinCommand: oc.JoinCommand, APIEndpoint: oc.APIEndpoint}, nil
	})
}

func in(r pulumitest.Resource, k string) any { return infratest.Input(r, k) }

// rule is one security group rule, comparable: group direction protocol ports from.
type rule struct {
	Group, Direction, Protocol string
	From, To                   float64
	Source                     string
}

func rules(s *infratest.Stack) []rule {
	var out []rule
	for _, r := range s.Of(ruleType) {
		str := func(k string) string { v, _ := in(r, k).(string); return v }
		num := func(k string) float64 { v, _ := in(r, k).(float64); return v }
		src := str("remoteIpPrefix")
		if g := str("remoteGroupId"); g != "" {
			src = "group:" + g
		}
		out = append(out, rule{str("securityGroupId"), str("direction"), str("protocol"), num("portRangeMin"), num("portRangeMax"), src})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func TestSecurityRulesAreThePolicy(t *testing.T) {
	s := run(t, baseArgs())
	nodes, api := "overcloud-fw-nodes-id", "overcloud-fw-api-id"
	want := []rule{
		{api, "ingress", "tcp", 443, 443, admin},
		{api, "ingress", "tcp", 6443, 6443, edge},
		{api, "ingress", "tcp", 6443, 6443, admin},
		{nodes, "egress", "", 0, 0, "0.0.0.0/0"},
		{nodes, "ingress", "tcp", 10250, 10250, "group:" + nodes},
		{nodes, "ingress", "tcp", 22, 22, admin},
		{nodes, "ingress", "tcp", 6443, 6443, "group:" + nodes},
		{nodes, "ingress", "udp", 8472, 8472, "group:" + nodes},
	}
	sort.Slice(want, func(i, j int) bool { return fmt.Sprint(want[i]) < fmt.Sprint(want[j]) })
	if got := rules(s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rules:\n got %v\nwant %v", got, want)
	}
	// Neutron's default rules (all egress, and all from the group itself) are gone,
	// so the groups hold only the policy.
	groups := s.Of(groupType)
	if len(groups) != 2 {
		t.Fatalf("%d security groups, want 2", len(groups))
	}
	for _, g := range groups {
		if in(g, "deleteDefaultRules") != true {
			t.Errorf("%s keeps Neutron's default rules", g.Name)
		}
	}
	for _, r := range rules(s) {
		if r.Direction == "ingress" && r.Source == "0.0.0.0/0" {
			t.Errorf("%v is open to the internet", r)
		}
	}
	for _, r := range s.Of(ruleType) {
		if in(r, "ethertype") != "IPv4" {
			t.Errorf("%s: ethertype %v", r.Name, in(r, "ethertype"))
		}
	}

	// World-open admin access only when asked for, and then on SSH and the API.
	a := baseArgs()
	a.AdminCIDRs, a.AllowOpenAdmin, a.EdgeCIDRs = []string{"0.0.0.0/0"}, true, nil
	var open []string
	for _, r := range rules(run(t, a)) {
		if r.Direction == "ingress" && r.Source == "0.0.0.0/0" {
			open = append(open, fmt.Sprint(r.Group, " ", r.From))
		}
	}
	if fmt.Sprint(open) != "[overcloud-fw-api-id 443 overcloud-fw-api-id 6443 overcloud-fw-nodes-id 22]" {
		t.Errorf("allowed open admin access opened %v", open)
	}
}

func TestNodesPerRole(t *testing.T) {
	a := baseArgs()
	s := run(t, a)
	insts := s.Of(instanceType)
	if len(insts) != 4 {
		t.Fatalf("%d instances, want 4", len(insts))
	}
	serverIP := "10.40.0.10"
	for _, inst := range insts {
		role := map[string]string{"overcloud-tower-0": overcloud.RoleTower, "overcloud-tower-1": overcloud.RoleTower,
			"overcloud-hub-0": overcloud.RoleHub, "overcloud-storage-0": overcloud.RoleStorage}[inst.Name]
		g := a.Nodes[role]
		server := inst.Name == "overcloud-tower-0"
		if p, ok := pulumitest.ParentOf(s.Resources, inst); !ok || p.Type != overcloud.TypeNodeGroup || p.Name != "overcloud-"+role {
			t.Errorf("%s: parent %v", inst.Name, p.Key())
		}
		if in(inst, "flavorName") != g.Flavor || in(inst, "name") != "openstack-test-"+inst.Name {
			t.Errorf("%s: flavor %v name %v", inst.Name, in(inst, "flavorName"), in(inst, "name"))
		}
		image := g.Image
		if image == "" {
			image = openstack.DefaultImage
		}
		disks, _ := in(inst, "blockDevices").([]any)
		if len(disks) != 1 {
			t.Fatalf("%s: block devices %v", inst.Name, disks)
		}
		disk := disks[0].(map[string]any)
		if disk["sourceType"] != "image" || disk["uuid"] != infratest.ImageID(image) || disk["destinationType"] != "volume" ||
			disk["volumeSize"] != float64(g.DiskGB) || disk["bootIndex"] != float64(0) || disk["deleteOnTermination"] != true {
			t.Errorf("%s: boot volume %v, want %d GB of %s", inst.Name, disk, g.DiskGB, image)
		}
		nets, _ := in(inst, "networks").([]any)
		port := ""
		if len(nets) == 1 {
			port, _ = nets[0].(map[string]any)["port"].(string)
		}
		wantPort := inst.Name + "-id"
		if server {
			wantPort = "overcloud-server-id"
		}
		if port != wantPort {
			t.Errorf("%s: networks %v, want port %s", inst.Name, nets, wantPort)
		}
		p := s.Find(t, portType, strings.TrimSuffix(wantPort, "-id"))
		groups := fmt.Sprint(in(p, "securityGroupIds"))
		fixed := in(p, "fixedIps").([]any)[0].(map[string]any)
		if server {
			if groups != "[overcloud-fw-nodes-id overcloud-fw-api-id]" || fixed["ipAddress"] != serverIP {
				t.Errorf("server port: groups %s, address %v", groups, fixed["ipAddress"])
			}
		} else if groups != "[overcloud-fw-nodes-id]" || fixed["ipAddress"] != nil {
			t.Errorf("%s port: groups %s, address %v", inst.Name, groups, fixed["ipAddress"])
		}
		if fixed["subnetId"] != "overcloud-net-id" || in(p, "networkId") != "overcloud-net-id" {
			t.Errorf("%s port on %v / %v", inst.Name, fixed["subnetId"], in(p, "networkId"))
		}
		if in(inst, "keyPair") != "openstack-test-overcloud-ssh" || in(inst, "configDrive") != true {
			t.Errorf("%s: key pair %v, config drive %v", inst.Name, in(inst, "keyPair"), in(inst, "configDrive"))
		}
		hints, _ := in(inst, "schedulerHints").([]any)
		if role == overcloud.RoleTower {
			if len(hints) != 1 || hints[0].(map[string]any)["group"] != "overcloud-tower-id" {
				t.Errorf("%s: scheduler hints %v, want the tower's server group", inst.Name, hints)
			}
		} else if len(hints) != 0 {
			t.Errorf("%s: scheduler hints %v for a group of one", inst.Name, hints)
		}
		md, _ := in(inst, "metadata").(map[string]any)
		if md[overcloud.TagRole] != role || md[overcloud.TagOwner] != "energy-team" || md[overcloud.TagStack] != "openstack-test" {
			t.Errorf("%s: metadata %v", inst.Name, md)
		}

		if !inst.Inputs["userData"].ContainsSecrets() {
			t.Errorf("%s: user data is not secret", inst.Name)
		}
		node := cloudinittest.Boot(t, in(inst, "userData").(string))
		if got := fmt.Sprint(node.K3s["node-label"]); got != "["+overcloud.DefaultRoleLabel+"="+role+"]" {
			t.Errorf("%s: node labels %s", inst.Name, got)
		}
		taints := fmt.Sprint(node.K3s["node-taint"])
		if role == overcloud.RoleStorage && taints != "[smartx.io/dedicated=storage:NoSchedule]" || role != overcloud.RoleStorage && node.K3s["node-taint"] != nil {
			t.Errorf("%s: taints %s", inst.Name, taints)
		}
		if server {
			if fmt.Sprint(node.K3s["tls-san"]) != "["+infratest.APIIP+" "+serverIP+"]" || node.K3s["advertise-address"] != serverIP {
				t.Errorf("server tls-san %v, advertise %v", node.K3s["tls-san"], node.K3s["advertise-address"])
			}
		} else if node.K3s["server"] != "https://"+serverIP+":6443" {
			t.Errorf("%s joins %v", inst.Name, node.K3s["server"])
		}
	}
	// One server group, the tower's (the only role with more than one VM).
	sgs := s.Of(serverGroup)
	if len(sgs) != 1 || sgs[0].Name != "overcloud-tower" || fmt.Sprint(in(sgs[0], "policies")) != "["+openstack.AntiAffinity+"]" {
		t.Errorf("server groups %v", sgs)
	}
	// The images are looked up once per name.
	if n := len(s.Of(portType)); n != 4 {
		t.Errorf("%d ports, want 4", n)
	}

	// A role with no VMs has no instances, no ports and no lookups of its image.
	a = baseArgs()
	a.Nodes[overcloud.RoleStorage] = openstack.NodeGroup{Flavor: "m1.medium", Count: 0, DiskGB: 20, Image: "not-looked-up"}
	a.SSHPublicKey = ""
	s = run(t, a)
	for _, inst := range s.Of(instanceType) {
		if strings.Contains(inst.Name, "storage") || in(inst, "keyPair") != nil {
			t.Errorf("%s: declared for an empty group, or with a key pair %v", inst.Name, in(inst, "keyPair"))
		}
	}
	if n := len(s.Of("openstack:compute/keypair:Keypair")); n != 0 {
		t.Errorf("%d key pairs without a public key", n)
	}
}

func TestNetworkAndFloatingIP(t *testing.T) {
	a := baseArgs()
	a.DNSNameservers = []string{"1.1.1.1"}
	s := run(t, a)
	subnet := s.Find(t, "openstack:networking/subnet:Subnet", "overcloud-net")
	if in(subnet, "cidr") != openstack.DefaultSubnet || in(subnet, "networkId") != "overcloud-net-id" || fmt.Sprint(in(subnet, "dnsNameservers")) != "[1.1.1.1]" {
		t.Errorf("subnet %v", subnet.Inputs)
	}
	router := s.Find(t, "openstack:networking/router:Router", "overcloud-net")
	if in(router, "externalNetworkId") != infratest.ExternalNetworkID {
		t.Errorf("router gateway on %v, want the external network %s", in(router, "externalNetworkId"), infratest.ExternalNetworkID)
	}
	ri := s.Find(t, "openstack:networking/routerInterface:RouterInterface", "overcloud-net")
	if in(ri, "routerId") != "overcloud-net-id" || in(ri, "subnetId") != "overcloud-net-id" {
		t.Errorf("router interface %v", ri.Inputs)
	}
	fips := s.Of(fipType)
	if len(fips) != 1 {
		t.Fatalf("%d floating IPs, want 1", len(fips))
	}
	if in(fips[0], "pool") != "public" || in(fips[0], "portId") != "overcloud-server-id" {
		t.Errorf("floating ip from %v on port %v, want public on the server's port", in(fips[0], "pool"), in(fips[0], "portId"))
	}
	if s.Endpoint != "https://"+infratest.APIIP+":6443" {
		t.Errorf("api endpoint %s", s.Endpoint)
	}
}

// Pulumi destroys in the reverse of the dependencies: the VMs before their ports
// and the floating IP, those before the security groups and the subnet, the router
// interface before the router and the subnet, the subnet before the network.
func TestDestroyOrder(t *testing.T) {
	s := run(t, baseArgs())
	dependsOn := func(r pulumitest.Resource, key string) bool {
		for _, d := range r.Deps {
			if pulumitest.KeyOfURN(d) == key {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct{ typ, name, on string }{
		{"openstack:networking/subnet:Subnet", "overcloud-net", "openstack:networking/network:Network::overcloud-net"},
		{"openstack:networking/routerInterface:RouterInterface", "overcloud-net", "openstack:networking/router:Router::overcloud-net"},
		{"openstack:networking/routerInterface:RouterInterface", "overcloud-net", "openstack:networking/subnet:Subnet::overcloud-net"},
		{portType, "overcloud-server", "openstack:networking/subnet:Subnet::overcloud-net"},
		{portType, "overcloud-server", groupType + "::overcloud-fw-api"},
		{portType, "overcloud-hub-0", groupType + "::overcloud-fw-nodes"},
		{fipType, "overcloud-api", portType + "::overcloud-server"},
		{fipType, "overcloud-api", "openstack:networking/routerInterface:RouterInterface::overcloud-net"},
		{instanceType, "overcloud-tower-0", portType + "::overcloud-server"},
		{instanceType, "overcloud-tower-0", fipType + "::overcloud-api"},
		{instanceType, "overcloud-tower-0", "tls:index/selfSignedCert:SelfSignedCert::overcloud-pki-server-ca"},
		{instanceType, "overcloud-tower-1", serverGroup + "::overcloud-tower"},
		{instanceType, "overcloud-hub-0", portType + "::overcloud-hub-0"},
		{instanceType, "overcloud-hub-0", "random:index/randomPassword:RandomPassword::overcloud-pki-agent-token"},
		{instanceType, "overcloud-hub-0", "openstack:compute/keypair:Keypair::overcloud-ssh"},
		{ruleType, "overcloud-fw-nodes-0", groupType + "::overcloud-fw-nodes"},
		{ruleType, "overcloud-fw-api-0", groupType + "::overcloud-fw-api"},
	} {
		if r := s.Find(t, tc.typ, tc.name); !dependsOn(r, tc.on) {
			t.Errorf("%s does not depend on %s (deps %v)", r.Key(), tc.on, r.Deps)
		}
	}
	// Every resource descends from the OverCloud, so destroying the stack takes it all.
	for _, r := range s.Outside(overcloud.TypeOverCloud) {
		t.Errorf("%s does not descend from the OverCloud", r.Key())
	}
}

// Every resource that takes tags carries the same tags as on AWS (as key=value).
func TestTags(t *testing.T) {
	s := run(t, baseArgs())
	tagged := 0
	for _, r := range s.Resources {
		if !strings.HasPrefix(r.Type, "openstack:networking/") || r.Type == "openstack:networking/routerInterface:RouterInterface" || r.Type == ruleType {
			continue
		}
		tagged++
		tags, _ := in(r, "tags").([]any)
		var got []string
		for _, v := range tags {
			got = append(got, v.(string))
		}
		for _, want := range []string{overcloud.TagStack + "=openstack-test", overcloud.TagOwner + "=energy-team", overcloud.TagProject + "=smartx"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s: tags %v lack %s", r.Key(), got, want)
			}
		}
		for _, tag := range got {
			if len(tag) > 60 {
				t.Errorf("%s: tag %q is longer than Neutron's 60", r.Key(), tag)
			}
		}
	}
	if tagged < 9 {
		t.Errorf("only %d tagged resources checked", tagged)
	}
}

// The tokens and CA keys reach OpenStack only inside secret inputs (the user data);
// the kubeconfig and the join command are secret outputs, the endpoint is not.
func TestSecretsStaySecret(t *testing.T) {
	s := run(t, baseArgs())
	found := s.CheckSecrets(t, func(typ string) bool { return strings.HasPrefix(typ, "tls:") || typ == instanceType })
	if !found[instanceType+"::overcloud-tower-0"] || !found[instanceType+"::overcloud-hub-0"] {
		t.Errorf("secrets did not reach the nodes' user data: %v", found)
	}
	if !s.Secret["kubeconfig"] || !s.Secret["join"] || s.Secret["endpoint"] {
		t.Errorf("secret outputs: %v (want kubeconfig and join secret, endpoint plain)", s.Secret)
	}
	for _, name := range []string{"overcloud-hub-0", "overcloud-storage-0", "overcloud-tower-1"} {
		ud := in(s.Find(t, instanceType, name), "userData").(string)
		if strings.Contains(ud, "server-token") || strings.Contains(ud, "SECRET-key") {
			t.Errorf("%s user data holds the server token or a CA key", name)
		}
	}
}

func TestOutputs(t *testing.T) {
	s := run(t, baseArgs())
	var k overcloud.Kubeconfig
	if err := yaml.Unmarshal([]byte(s.Kubeconfig), &k); err != nil || len(k.Clusters) != 1 || len(k.Users) != 1 {
		t.Fatalf("kubeconfig %v:\n%s", err, s.Kubeconfig)
	}
	if k.Clusters[0].Cluster.Server != "https://"+infratest.APIIP+":6443" {
		t.Errorf("kubeconfig points at %q", k.Clusters[0].Cluster.Server)
	}
	ca, _ := base64.StdEncoding.DecodeString(k.Clusters[0].Cluster.CertificateAuthorityData)
	if !strings.Contains(string(ca), "cert-overcloud-pki-server-ca") {
		t.Errorf("kubeconfig trusts %q", ca)
	}
	if s.ReadyNodes != 4 || s.ReadyKubeconfig != s.Kubeconfig {
		t.Errorf("ready check waited for %d nodes (want 4)", s.ReadyNodes)
	}
	wantToken := cloudinit.JoinToken("-----BEGIN CERTIFICATE-----\ncert-overcloud-pki-server-ca\n-----END CERTIFICATE-----\n", "SECRET-token-overcloud-pki-agent-token")
	for _, want := range []string{"K3S_URL='https://" + infratest.APIIP + ":6443'", "K3S_TOKEN='" + wantToken + "'", "--node-label '" + overcloud.DefaultRoleLabel + "=" + overcloud.RoleHub + "'"} {
		if !strings.Contains(s.Join, want) {
			t.Errorf("join command lacks %s:\n%s", want, s.Join)
		}
	}
	cloudinittest.Shellcheck(t, "join command", "#!/bin/sh\n"+s.Join+"\n")
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(a *openstack.Args)
		key    string
	}{
		"no external network":  {func(a *openstack.Args) { a.ExternalNetwork = "" }, "smartx:externalNetwork"},
		"bad external network": {func(a *openstack.Args) { a.ExternalNetwork = " public" }, "smartx:externalNetwork"},
		"no admin cidrs":       {func(a *openstack.Args) { a.AdminCIDRs = nil }, "smartx:adminCidrs"},
		"open admin":           {func(a *openstack.Args) { a.AdminCIDRs = []string{"0.0.0.0/0"} }, "smartx:adminCidrs"},
		"open edge":            {func(a *openstack.Args) { a.EdgeCIDRs = []string{"0.0.0.0/0"} }, "smartx:edgeCidrs"},
		"bad admin cidr":       {func(a *openstack.Args) { a.AdminCIDRs = []string{"198.51.100.7"} }, "smartx:adminCidrs"},
		"bad web cidr":         {func(a *openstack.Args) { a.WebCIDRs = []string{"10.0.0.1/8"} }, "smartx:webCidrs"},
		"bad subnet":           {func(a *openstack.Args) { a.SubnetCIDR = "10.40.0.0/30" }, "smartx:subnetCidr"},
		"bad dns":              {func(a *openstack.Args) { a.DNSNameservers = []string{"dns.example"} }, "smartx:dnsNameservers"},
		"bad ssh key":          {func(a *openstack.Args) { a.SSHPublicKey = "-----BEGIN OPENSSH PRIVATE KEY-----" }, "smartx:sshPublicKey"},
		"no owner":             {func(a *openstack.Args) { a.Owner = "" }, "smartx:owner"},
		"long owner":           {func(a *openstack.Args) { a.Owner = strings.Repeat("x", 48) }, "smartx:owner"},
		"unknown role": {func(a *openstack.Args) {
			a.Nodes["gpu"] = openstack.NodeGroup{Flavor: "g1.large", Count: 1, DiskGB: 20}
		}, "smartx:nodes"},
		"no flavor": {func(a *openstack.Args) {
			a.Nodes[overcloud.RoleHub] = openstack.NodeGroup{Count: 1, DiskGB: 20}
		}, "smartx:nodes.hub.flavor"},
		"no tower": {func(a *openstack.Args) {
			a.Nodes[overcloud.RoleTower] = openstack.NodeGroup{Flavor: "m1.large", DiskGB: 40}
		}, "smartx:nodes.tower.count"},
		"small disk": {func(a *openstack.Args) {
			a.Nodes[overcloud.RoleHub] = openstack.NodeGroup{Flavor: "m1.small", Count: 1, DiskGB: 5}
		}, "smartx:nodes.hub.diskGb"},
		"bad taint": {func(a *openstack.Args) {
			a.Nodes[overcloud.RoleHub] = openstack.NodeGroup{Flavor: "m1.small", Count: 1, DiskGB: 20, Taints: []string{"x"}}
		}, "smartx:nodes.hub"},
		"k3s version floating": {func(a *openstack.Args) { a.K3sVersion = "latest" }, "smartx:k3sVersion"},
	} {
		t.Run(name, func(t *testing.T) {
			a := baseArgs()
			tc.mutate(a)
			m := &infratest.Mocks{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := openstack.New(ctx, "overcloud", a)
				return err
			}, pulumi.WithMocks("smartx", "openstack-test", m))
			if !errors.Is(err, overcloud.ErrConfig) || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("New: %v, want ErrConfig naming %s", err, tc.key)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources registered for an invalid config", n)
			}
		})
	}
}
