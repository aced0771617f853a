package overcloud

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit"
)

// Cluster is what a cloud hands to the k3s nodes it boots: the PKI, the k3s server's
// private address and the public address everyone else reaches the API on.
type Cluster struct {
	PKI *PKI
	// K3sVersion and RoleLabel are the release and the role's node label.
	K3sVersion, RoleLabel string
	// ServerIP is the server's fixed private address; agents join it there.
	ServerIP string
	// PublicIP is the API's public address (an Elastic IP, a floating IP).
	PublicIP pulumi.StringOutput
}

// ServerURL is where agents inside the cloud join.
func (c *Cluster) ServerURL() string { return fmt.Sprintf("https://%s:%d", c.ServerIP, APIPort) }

// JoinToken is the agents' join token, pinned to the server CA (secret inside).
func (c *Cluster) JoinToken() pulumi.StringOutput {
	return pulumi.All(c.PKI.ServerCA.CertPem, c.PKI.AgentToken.Result).ApplyT(func(v []any) string {
		return cloudinit.JoinToken(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
}

// node is the cloud-init node of role's i-th VM.
func (c *Cluster) node(role string, i int, taints []string) cloudinit.Node {
	return cloudinit.Node{Version: c.K3sVersion, Name: NodeName(role, i), Labels: map[string]string{c.RoleLabel: role}, Taints: taints}
}

// NodeName is the Kubernetes name of role's i-th VM.
func NodeName(role string, i int) string { return fmt.Sprintf("%s-%d", role, i) }

// ServerUserData is the user data of the k3s server (the tower's first VM), secret:
// it holds the join tokens and the CA keys.
func (c *Cluster) ServerUserData(taints []string) pulumi.StringOutput {
	p, node := c.PKI, c.node(RoleTower, 0, taints)
	return pulumi.ToSecret(pulumi.All(p.ServerToken.Result, p.AgentToken.Result, p.ServerCA.CertPem, p.ServerCAKey.PrivateKeyPem,
		p.ClientCA.CertPem, p.ClientCAKey.PrivateKeyPem, c.PublicIP).ApplyT(func(v []any) (string, error) {
		n := node
		n.Mode, n.Token, n.AgentToken = cloudinit.ModeServer, v[0].(string), v[1].(string)
		n.ServerCA = cloudinit.CA{CertPEM: v[2].(string), KeyPEM: v[3].(string)}
		n.ClientCA = cloudinit.CA{CertPEM: v[4].(string), KeyPEM: v[5].(string)}
		n.TLSSANs = []string{v[6].(string), c.ServerIP}
		n.AdvertiseAddress = c.ServerIP
		return n.Render()
	})).(pulumi.StringOutput)
}

// AgentUserData is the user data of role's i-th VM joining the server, secret: it
// holds the join token.
func (c *Cluster) AgentUserData(role string, i int, taints []string) pulumi.StringOutput {
	node := c.node(role, i, taints)
	return pulumi.ToSecret(c.JoinToken().ApplyT(func(token string) (string, error) {
		n := node
		n.Mode, n.Token, n.ServerURL = cloudinit.ModeAgent, token, c.ServerURL()
		return n.Render()
	})).(pulumi.StringOutput)
}

// Kubeconfig is the admin kubeconfig on the public address (secret). During `pulumi
// up` it resolves once ready says the cluster has nodes Ready nodes; after names a
// resource (the public address's attachment to the server) it waits for.
func (c *Cluster) Kubeconfig(ctx *pulumi.Context, ready ReadyFunc, nodes int, after pulumi.IDOutput) pulumi.StringOutput {
	p := c.PKI
	return pulumi.ToSecret(pulumi.All(c.PublicIP, p.ServerCA.CertPem, p.AdminCert.CertPem, p.AdminKey.PrivateKeyPem, after).ApplyTWithContext(ctx.Context(),
		func(cx context.Context, v []any) (string, error) {
			kc, err := BuildKubeconfig(fmt.Sprintf("https://%s:%d", v[0], APIPort), v[1].(string), v[2].(string), v[3].(string))
			if err != nil {
				return "", err
			}
			if !ctx.DryRun() {
				if err := ready(cx, kc, nodes); err != nil {
					return "", fmt.Errorf("wait for the cluster: %w", err)
				}
			}
			return kc, nil
		})).(pulumi.StringOutput)
}

// APIEndpoint is https://<public address>:6443.
func (c *Cluster) APIEndpoint() pulumi.StringOutput {
	return pulumi.Sprintf("https://%s:%d", c.PublicIP, APIPort)
}

// JoinCommand joins a machine outside the cloud (a Pi 4 edge gateway) as a hub node
// with hubTaints (secret: it holds the agent join token).
func (c *Cluster) JoinCommand(hubTaints []string) pulumi.StringOutput {
	version, label := c.K3sVersion, c.RoleLabel
	return pulumi.ToSecret(pulumi.All(c.PublicIP, c.JoinToken()).ApplyT(func(v []any) string {
		return cloudinit.JoinCommand(fmt.Sprintf("https://%s:%d", v[0], APIPort), version, v[1].(string),
			map[string]string{label: RoleHub}, hubTaints)
	})).(pulumi.StringOutput)
}
