package aws

import (
	"strings"
	"testing"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

func TestMonthlyCost(t *testing.T) {
	nodes := map[string]NodeGroup{
		overcloud.RoleTower:   {InstanceType: "t3.medium", Count: 1, DiskGB: 30},
		overcloud.RoleHub:     {InstanceType: "t3.small", Count: 1, DiskGB: 20},
		overcloud.RoleStorage: {InstanceType: "t3.small", Count: 0, DiskGB: 20},
	}
	c, err := MonthlyCost(&Args{Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	// No NAT: 2 nodes, 2 public addresses (the server's Elastic IP and the hub's).
	want := Cost{
		Instances: map[string]float64{overcloud.RoleTower: 30.37, overcloud.RoleHub: 15.18, overcloud.RoleStorage: 0},
		Disks:     map[string]float64{overcloud.RoleTower: 2.4, overcloud.RoleHub: 1.6, overcloud.RoleStorage: 0},
		PublicIPs: 7.3, Total: 56.85,
	}
	for _, r := range overcloud.Roles {
		if c.Instances[r] != want.Instances[r] || c.Disks[r] != want.Disks[r] {
			t.Errorf("%s: %v / %v, want %v / %v", r, c.Instances[r], c.Disks[r], want.Instances[r], want.Disks[r])
		}
	}
	if c.NAT != 0 || c.PublicIPs != want.PublicIPs || c.Total != want.Total {
		t.Errorf("NAT %v, IPs %v, total %v; want 0, %v, %v", c.NAT, c.PublicIPs, c.Total, want.PublicIPs, want.Total)
	}
	c, err = MonthlyCost(&Args{Nodes: nodes, NAT: true})
	if err != nil {
		t.Fatal(err)
	}
	// With NAT: one gateway (32.85) and two addresses (API and NAT).
	if c.NAT != 32.85 || c.PublicIPs != 7.3 || c.Total != 89.70 {
		t.Errorf("with NAT: NAT %v, IPs %v, total %v", c.NAT, c.PublicIPs, c.Total)
	}
	nodes[overcloud.RoleHub] = NodeGroup{InstanceType: "x9.huge", Count: 1, DiskGB: 20}
	if _, err := MonthlyCost(&Args{Nodes: nodes}); err == nil {
		t.Error("unknown instance type priced")
	} else if !strings.Contains(err.Error(), `instance type "x9.huge"`) {
		t.Errorf("error %q does not name the instance type", err)
	}
}
