package overcloud

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	admin, edge, web := "198.51.100.7/32", "192.0.2.0/24", "0.0.0.0/0"
	rules := Policy(Access{AdminCIDRs: []string{admin}, EdgeCIDRs: []string{edge}, WebCIDRs: []string{web}})
	var got []string
	for _, r := range rules {
		from := strings.Join(r.CIDRs, ",")
		if r.FromCluster {
			from = "cluster"
		}
		dir := "in"
		if r.Egress {
			dir = "out"
		}
		got = append(got, fmt.Sprintf("%s %s %s %d-%d %s", r.On, dir, r.Protocol, r.FromPort, r.ToPort, from))
	}
	want := []string{
		"nodes in tcp 6443-6443 cluster",
		"nodes in tcp 10250-10250 cluster",
		"nodes in udp 8472-8472 cluster",
		"nodes in tcp 22-22 " + admin,
		"nodes out all 0-0 0.0.0.0/0",
		"server in tcp 6443-6443 " + admin,
		"server in tcp 443-443 " + web,
		"server in tcp 6443-6443 " + edge,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("policy:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A public dashboard is the only world-open rule; no edge ranges, no edge rule.
	open := WorldOpen(rules)
	if len(open) != 1 || open[0].FromPort != HTTPSPort {
		t.Errorf("world-open rules %v, want only HTTPS", open)
	}
	for _, r := range Policy(Access{AdminCIDRs: []string{admin}}) {
		if strings.Contains(r.Description, "edge") {
			t.Errorf("an edge rule without edge ranges: %v", r)
		}
	}
}

func TestAccessValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Access
		key  string // "" when valid
	}{
		{"admin only", Access{AdminCIDRs: []string{"198.51.100.7/32"}}, ""},
		{"public dashboard", Access{AdminCIDRs: []string{"198.51.100.7/32"}, WebCIDRs: []string{"0.0.0.0/0"}}, ""},
		{"open admin allowed", Access{AdminCIDRs: []string{"0.0.0.0/0"}, AllowOpenAdmin: true}, ""},
		{"no admin", Access{}, "smartx:adminCidrs"},
		{"open admin", Access{AdminCIDRs: []string{"0.0.0.0/0"}}, "smartx:adminCidrs"},
		{"open edge", Access{AdminCIDRs: []string{"198.51.100.7/32"}, EdgeCIDRs: []string{"0.0.0.0/0"}}, "smartx:edgeCidrs"},
		{"host bits", Access{AdminCIDRs: []string{"198.51.100.7/24"}}, "smartx:adminCidrs"},
		{"ipv6", Access{AdminCIDRs: []string{"2001:db8::/32"}}, "smartx:adminCidrs"},
		{"bad web", Access{AdminCIDRs: []string{"198.51.100.7/32"}, WebCIDRs: []string{"web"}}, "smartx:webCidrs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.WithDefaults().Validate()
			switch {
			case tc.key == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.key != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.key)):
				t.Errorf("Validate: %v, want ErrConfig naming %s", err, tc.key)
			}
		})
	}
}

func TestGroupsAndRoles(t *testing.T) {
	if err := CheckRoles(map[string]int{RoleTower: 1, RoleHub: 1, RoleStorage: 1}); err != nil {
		t.Error(err)
	}
	for _, bad := range []map[string]int{{RoleTower: 1, RoleHub: 1}, {RoleTower: 1, RoleHub: 1, RoleStorage: 1, "gpu": 1}, {RoleTower: 1, RoleHub: 1, "gpu": 1}} {
		if err := CheckRoles(bad); err == nil || !strings.Contains(err.Error(), "smartx:nodes") {
			t.Errorf("CheckRoles(%v): %v", bad, err)
		}
	}
	got := WithDefaultRoles(map[string]int{RoleHub: 3, "gpu": 1}, map[string]int{RoleTower: 1, RoleHub: 1, RoleStorage: 1})
	if fmt.Sprint(got) != "map[gpu:1 hub:3 storage:1 tower:1]" {
		t.Errorf("WithDefaultRoles: %v", got)
	}
	for _, tc := range []struct {
		role        string
		count, disk int
		key         string
	}{
		{RoleTower, 1, 20, ""}, {RoleHub, 0, 20, ""}, {RoleTower, 0, 20, "count"}, {RoleHub, MaxCount + 1, 20, "count"},
		{RoleHub, 1, MinDiskGB - 1, "diskGb"}, {RoleHub, 1, MaxDiskGB + 1, "diskGb"},
	} {
		err := CheckGroup(tc.role, tc.count, tc.disk)
		if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.Contains(err.Error(), "smartx:nodes."+tc.role+"."+tc.key)) {
			t.Errorf("CheckGroup(%s, %d, %d): %v", tc.role, tc.count, tc.disk, err)
		}
	}
	if Host("10.40.0.0/24", 10) != "10.40.0.10" {
		t.Error("Host")
	}
}
