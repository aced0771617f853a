package overcloud

import (
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypePKI is the PKI's type token.
const TypePKI = "smartx:infra:ClusterPKI"

// Certificate lifetimes. The CAs outlive the cluster; the admin certificate is
// renewed by `pulumi up` within its last 30 days.
const (
	caHours         = 10 * 365 * 24
	adminHours      = 365 * 24
	adminRenewHours = 30 * 24
	tokenLength     = 48
	// AdminGroup is the admin certificate's organization: Kubernetes binds it to
	// cluster-admin.
	AdminGroup = "system:masters"
)

// PKI is the cluster's trust, made once and kept in the stack's state (secret): the
// CA that signs the API's serving certificate, the CA that signs client certificates,
// the admin client certificate of the kubeconfig and the two join tokens. None of it
// changes on later `pulumi up` runs, so the cluster keeps working across updates.
type PKI struct {
	pulumi.ResourceState

	// ServerCA signs the API's serving certificate; agents check it (the CA hash in
	// the join token) and the kubeconfig trusts it.
	ServerCA    *tls.SelfSignedCert
	ServerCAKey *tls.PrivateKey
	// ClientCA signs client certificates; k3s trusts it for client authentication.
	ClientCA    *tls.SelfSignedCert
	ClientCAKey *tls.PrivateKey
	// AdminCert and AdminKey are the kubeconfig's client identity (group system:masters).
	AdminCert *tls.LocallySignedCert
	AdminKey  *tls.PrivateKey
	// ServerToken joins servers and protects the cluster's bootstrap data;
	// AgentToken only joins agents (edge gateways get this one).
	ServerToken, AgentToken *random.RandomPassword
}

// NewPKI declares the PKI.
func NewPKI(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (*PKI, error) {
	p := &PKI{}
	if err := ctx.RegisterComponentResource(TypePKI, name, p, opts...); err != nil {
		return nil, fmt.Errorf("register pki %s: %w", name, err)
	}
	parent := pulumi.Parent(p)
	key := func(n string) (*tls.PrivateKey, error) {
		k, err := tls.NewPrivateKey(ctx, name+"-"+n, &tls.PrivateKeyArgs{Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256")}, parent)
		if err != nil {
			return nil, fmt.Errorf("%s key: %w", n, err)
		}
		return k, nil
	}
	ca := func(n, cn string) (*tls.SelfSignedCert, *tls.PrivateKey, error) {
		k, err := key(n)
		if err != nil {
			return nil, nil, err
		}
		c, err := tls.NewSelfSignedCert(ctx, name+"-"+n, &tls.SelfSignedCertArgs{
			PrivateKeyPem:       k.PrivateKeyPem,
			Subject:             &tls.SelfSignedCertSubjectArgs{CommonName: pulumi.String(cn), Organization: pulumi.String("smartx")},
			IsCaCertificate:     pulumi.Bool(true),
			SetSubjectKeyId:     pulumi.Bool(true),
			ValidityPeriodHours: pulumi.Int(caHours),
			AllowedUses:         pulumi.ToStringArray([]string{"cert_signing", "crl_signing", "digital_signature", "key_encipherment"}),
		}, parent)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", n, err)
		}
		return c, k, nil
	}
	var err error
	if p.ServerCA, p.ServerCAKey, err = ca("server-ca", "smartx-server-ca"); err != nil {
		return nil, err
	}
	if p.ClientCA, p.ClientCAKey, err = ca("client-ca", "smartx-client-ca"); err != nil {
		return nil, err
	}
	if p.AdminKey, err = key("admin"); err != nil {
		return nil, err
	}
	csr, err := tls.NewCertRequest(ctx, name+"-admin", &tls.CertRequestArgs{
		PrivateKeyPem: p.AdminKey.PrivateKeyPem,
		Subject:       &tls.CertRequestSubjectArgs{CommonName: pulumi.String("smartx-admin"), Organization: pulumi.String(AdminGroup)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("admin request: %w", err)
	}
	if p.AdminCert, err = tls.NewLocallySignedCert(ctx, name+"-admin", &tls.LocallySignedCertArgs{
		CertRequestPem: csr.CertRequestPem, CaCertPem: p.ClientCA.CertPem, CaPrivateKeyPem: p.ClientCAKey.PrivateKeyPem,
		ValidityPeriodHours: pulumi.Int(adminHours), EarlyRenewalHours: pulumi.Int(adminRenewHours),
		AllowedUses: pulumi.ToStringArray([]string{"client_auth", "digital_signature", "key_encipherment"}),
	}, parent); err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	token := func(n string) (*random.RandomPassword, error) {
		// Letters and digits only: the tokens go into k3s token files and the join
		// command's single quotes.
		t, err := random.NewRandomPassword(ctx, name+"-"+n, &random.RandomPasswordArgs{Length: pulumi.Int(tokenLength), Special: pulumi.Bool(false)}, parent)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		return t, nil
	}
	if p.ServerToken, err = token("server-token"); err != nil {
		return nil, err
	}
	if p.AgentToken, err = token("agent-token"); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{"serverCa": p.ServerCA.CertPem, "clientCa": p.ClientCA.CertPem}); err != nil {
		return nil, fmt.Errorf("pki %s outputs: %w", name, err)
	}
	return p, nil
}
