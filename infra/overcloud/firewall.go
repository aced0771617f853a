package overcloud

import (
	"net/netip"
)

// Access is who may reach the OverCloud from outside it.
type Access struct {
	// AdminCIDRs may reach SSH (22) and the Kubernetes API (6443) (required, at least
	// one; 0.0.0.0/0 only with AllowOpenAdmin).
	AdminCIDRs []string
	// AllowOpenAdmin accepts 0.0.0.0/0 in AdminCIDRs and EdgeCIDRs (default false).
	AllowOpenAdmin bool
	// WebCIDRs may reach the dashboard and Grafana over HTTPS (443) (optional, default
	// AdminCIDRs; 0.0.0.0/0 is allowed here, for a public dashboard).
	WebCIDRs []string
	// EdgeCIDRs are the addresses edge gateways outside the cloud join from: they may
	// reach the API and join port 6443 (optional, default none).
	EdgeCIDRs []string
}

// WithDefaults returns a copy with WebCIDRs defaulted to AdminCIDRs.
func (a Access) WithDefaults() Access {
	if len(a.WebCIDRs) == 0 {
		a.WebCIDRs = a.AdminCIDRs
	}
	return a
}

// Validate names the first bad key: every range an IPv4 CIDR, at least one admin
// range, and no world-open admin or edge range unless AllowOpenAdmin.
func (a Access) Validate() error {
	if len(a.AdminCIDRs) == 0 {
		return Bad("AdminCIDRs (smartx:adminCidrs) is required: the addresses that may reach SSH and the Kubernetes API")
	}
	for _, set := range []struct {
		key   string
		cidrs []string
		open  bool
	}{{"adminCidrs", a.AdminCIDRs, a.AllowOpenAdmin}, {"webCidrs", a.WebCIDRs, true}, {"edgeCidrs", a.EdgeCIDRs, a.AllowOpenAdmin}} {
		for _, c := range set.cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil || p.Masked() != p || !p.Addr().Is4() {
				return Bad("smartx:%s: %q is not an IPv4 CIDR such as 198.51.100.7/32", set.key, c)
			}
			if p.Bits() == 0 && !set.open {
				return Bad("smartx:%s: %s opens SSH and the Kubernetes API to the whole internet; set smartx:allowOpenAdmin to true if you really mean it", set.key, c)
			}
		}
	}
	return nil
}

// Where a rule applies: on every node, or on the k3s server only.
const (
	OnNodes  = "nodes"
	OnServer = "server"
)

// A Rule lets traffic in (or, with Egress, out). From is a list of CIDRs; when
// FromCluster is set instead, the traffic comes from the cluster's own nodes (the
// nodes' security group itself on the cloud). Ports 0..0 with protocol "all" is
// every port.
type Rule struct {
	On          string
	Egress      bool
	Protocol    string // "tcp", "udp" or "all"
	FromPort    int
	ToPort      int
	CIDRs       []string
	FromCluster bool
	Description string
}

// k3s's own ports between nodes (k3s's documented inbound rules for a single server
// with flannel's VXLAN backend): the API and supervisor, the kubelet, and VXLAN.
// Pod and service traffic between nodes travels inside VXLAN, so nothing else needs
// to be open between them.
var clusterRules = []Rule{
	{On: OnNodes, Protocol: "tcp", FromPort: APIPort, ToPort: APIPort, FromCluster: true, Description: "k3s API and supervisor between nodes"},
	{On: OnNodes, Protocol: "tcp", FromPort: 10250, ToPort: 10250, FromCluster: true, Description: "kubelet between nodes (logs, exec, metrics)"},
	{On: OnNodes, Protocol: "udp", FromPort: 8472, ToPort: 8472, FromCluster: true, Description: "flannel VXLAN: pod traffic between nodes"},
}

// Policy is the OverCloud's firewall, the same on every cloud: between nodes only
// what k3s needs, SSH from admins on every node, the API from admins and edge
// gateways and HTTPS from the web ranges on the server only, and all egress
// (packages, k3s and images). Nothing else reaches the VMs.
func Policy(a Access) []Rule {
	tcp := func(on string, port int, cidrs []string, what string) Rule {
		return Rule{On: on, Protocol: "tcp", FromPort: port, ToPort: port, CIDRs: cidrs, Description: what}
	}
	rules := append([]Rule(nil), clusterRules...)
	rules = append(rules,
		tcp(OnNodes, SSHPort, a.AdminCIDRs, "SSH from admins"),
		Rule{On: OnNodes, Egress: true, Protocol: "all", CIDRs: []string{"0.0.0.0/0"}, Description: "packages, k3s and images"},
		tcp(OnServer, APIPort, a.AdminCIDRs, "Kubernetes API from admins"),
		tcp(OnServer, HTTPSPort, a.WebCIDRs, "dashboard and Grafana over HTTPS"),
	)
	if len(a.EdgeCIDRs) > 0 {
		rules = append(rules, tcp(OnServer, APIPort, a.EdgeCIDRs, "edge gateways join (k3s supervisor and API)"))
	}
	return rules
}

// WorldOpen reports the ingress rules of rules that admit 0.0.0.0/0.
func WorldOpen(rules []Rule) []Rule {
	var open []Rule
	for _, r := range rules {
		if r.Egress {
			continue
		}
		for _, c := range r.CIDRs {
			if p, err := netip.ParsePrefix(c); err == nil && p.Bits() == 0 {
				open = append(open, r)
				break
			}
		}
	}
	return open
}
