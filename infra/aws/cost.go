package aws

import (
	"fmt"
	"github.com/smartx-team/overcloud/infra/overcloud"
	"math"
	"sort"
)

// Prices are AWS on-demand list prices in US dollars for region PriceRegion, Linux,
// shared tenancy, as published at PriceDate. They are list prices to verify (AWS
// changes them and taxes are extra); data transfer out and NAT data processing are
// not counted, since they depend on traffic.
const (
	PriceRegion = "us-east-1"
	PriceDate   = "2025-06"
	// HoursPerMonth is AWS's billing month (730 hours).
	HoursPerMonth = 730
	// GP3PerGBMonth is a gp3 volume at the baseline 3000 IOPS and 125 MB/s.
	GP3PerGBMonth = 0.08
	// NATGatewayHour is one NAT gateway's hourly charge.
	NATGatewayHour = 0.045
	// PublicIPv4Hour is charged for every public IPv4 address, Elastic or not.
	PublicIPv4Hour = 0.005
)

// InstanceHour is the hourly on-demand price of the instance types the stacks use.
var InstanceHour = map[string]float64{
	"t3.micro":   0.0104,
	"t3.small":   0.0208,
	"t3.medium":  0.0416,
	"t3.large":   0.0832,
	"t3.xlarge":  0.1664,
	"t4g.small":  0.0168,
	"t4g.medium": 0.0336,
	"t4g.large":  0.0672,
	"m6i.large":  0.096,
	"m6i.xlarge": 0.192,
	"m7g.large":  0.0816,
	"r6i.large":  0.126,
	"c6i.large":  0.085,
}

// Cost is a stack's monthly on-demand cost, by item, in US dollars.
type Cost struct {
	// Instances and Disks by role; NAT gateways; public IPv4 addresses.
	Instances, Disks map[string]float64
	NAT, PublicIPs   float64
	// Total of all of them.
	Total float64
}

// MonthlyCost computes what the OverCloud of args costs per month at the list prices
// above: every instance, its gp3 root volume, the NAT gateway (one, when Args.NAT)
// and every public IPv4 address (the API's Elastic IP, the NAT gateway's, and each
// node's own when there is no NAT). Defaults apply as in New. An instance type
// missing from InstanceHour is an error.
func MonthlyCost(args *Args) (Cost, error) {
	a := args.withDefaults()
	c := Cost{Instances: map[string]float64{}, Disks: map[string]float64{}}
	ips := 1 // the API's Elastic IP
	for _, r := range overcloud.Roles {
		g := a.Nodes[r]
		hour, ok := InstanceHour[g.InstanceType]
		if !ok {
			known := make([]string, 0, len(InstanceHour))
			for k := range InstanceHour {
				known = append(known, k)
			}
			sort.Strings(known)
			return Cost{}, fmt.Errorf("no price for instance type %q (known: %v)", g.InstanceType, known)
		}
		c.Instances[r] = round(float64(g.Count) * hour * HoursPerMonth)
		c.Disks[r] = round(float64(g.Count*g.DiskGB) * GP3PerGBMonth)
		if !a.NAT {
			ips += g.Count
		}
	}
	if a.NAT {
		c.NAT = round(NATGatewayHour * HoursPerMonth)
		ips++
	} else {
		ips-- // the server uses the Elastic IP, not an address of its own
	}
	c.PublicIPs = round(float64(ips) * PublicIPv4Hour * HoursPerMonth)
	c.Total = c.NAT + c.PublicIPs
	for _, r := range overcloud.Roles {
		c.Total += c.Instances[r] + c.Disks[r]
	}
	c.Total = round(c.Total)
	return c, nil
}

func round(v float64) float64 { return math.Round(v*100) / 100 }
