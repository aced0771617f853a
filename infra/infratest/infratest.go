// Package infratest is the mock engine of the OverCloud's tests: it records every
// resource (with internal/pulumitest) and answers with the outputs the aws,
// openstack, tls and random providers compute, marking secret what their schemas
// mark secret. It imports no cloud's SDK: it knows the providers by type token.
package infratest

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// Values the mocks answer with.
const (
	// APIIP is the public address of the API's Elastic IP (other Elastic IPs get 203.0.113.99).
	APIIP = "203.0.113.10"
	// AMI is what every image lookup finds.
	AMI = "ami-0123456789abcdef0"
	// ExternalNetworkID is the id of the external network an OpenStack lookup finds.
	ExternalNetworkID = "ext-net-0001"
)

// ImageID is the Glance id an OpenStack image lookup by name finds.
func ImageID(name string) string { return "img-" + name }

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// Mocks stands in for the engine and the aws, openstack, tls and random providers: it records
// every resource and answers with the outputs the real providers compute, marking
// secret what their schemas mark secret.
type Mocks struct {
	pulumitest.Mocks
}

// SecretMarker is the value of a secret output: private keys and passwords hold it,
// so a test can find every place a secret went.
func SecretMarker(kind, name string) string { return "SECRET-" + kind + "-" + name }

// NewResource records the resource and computes its outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id, in, err := m.Mocks.NewResource(args)
	out := in.Copy()
	str := func(k, v string) { out[resource.PropertyKey(k)] = resource.NewStringProperty(v) }
	secret := func(k, v string) { out[resource.PropertyKey(k)] = resource.MakeSecret(resource.NewStringProperty(v)) }
	switch args.TypeToken {
	case "aws:ec2/eip:Eip":
		str("publicIp", map[bool]string{true: APIIP, false: "203.0.113.99"}[strings.HasSuffix(args.Name, "-api")])
		str("allocationId", "eipalloc-"+args.Name)
	case "aws:ec2/instance:Instance":
		if _, ok := in["privateIp"]; !ok {
			str("privateIp", "10.40.200.1")
		}
	case "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile":
		str("name", args.Name+"-name")
		str("arn", "arn:aws:iam::123456789012:role/"+args.Name)
	case "openstack:networking/floatingIp:FloatingIp":
		str("address", APIIP)
	case "tls:index/privateKey:PrivateKey":
		secret("privateKeyPem", "-----BEGIN PRIVATE KEY-----\n"+SecretMarker("key", args.Name)+"\n-----END PRIVATE KEY-----\n")
	case "tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert":
		str("certPem", "-----BEGIN CERTIFICATE-----\ncert-"+args.Name+"\n-----END CERTIFICATE-----\n")
	case "tls:index/certRequest:CertRequest":
		str("certRequestPem", "-----BEGIN CERTIFICATE REQUEST-----\n"+args.Name+"\n-----END CERTIFICATE REQUEST-----\n")
	case "random:index/randomPassword:RandomPassword":
		secret("result", SecretMarker("token", args.Name))
	}
	return id, out, err
}

// Call answers the availability zone and image lookups.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{"names": []any{"us-east-1a", "us-east-1b", "us-east-1c"}, "id": "us-east-1"}), nil
	case "aws:ec2/getAmi:getAmi":
		return resource.NewPropertyMapFromMap(map[string]any{"id": AMI}), nil
	case "openstack:networking/getNetwork:getNetwork":
		if ext, ok := args.Args["external"]; !ok || !ext.IsBool() || !ext.BoolValue() {
			return nil, fmt.Errorf("getNetwork without external: true")
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": ExternalNetworkID, "name": args.Args["name"].StringValue()}), nil
	case "openstack:images/getImage:getImage":
		return resource.NewPropertyMapFromMap(map[string]any{"id": ImageID(args.Args["name"].StringValue())}), nil
	}
	return nil, fmt.Errorf("unexpected invoke %s", args.Token)
}
