package workload

import (
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// PolicyArgs describe a NetworkPolicy: who may reach the pods of App and what they
// may reach.
type PolicyArgs struct {
	// App is the app.kubernetes.io/name of the pods, and the policy's object name
	// (required).
	App string
	// Namespace of the policy and the pods (required).
	Namespace string
	// Labels label the policy itself (optional).
	Labels map[string]string
	// Ingress and Egress are the allowed peers (optional: none means none).
	Ingress, Egress []Peer
}

// NewNetworkPolicy declares the NetworkPolicy name for the pods of args.App: it allows
// exactly the ingress and egress peers given, plus DNS. Listing both policy types
// denies everything else for these pods even where the namespace has no default-deny
// policy.
func NewNetworkPolicy(ctx *pulumi.Context, name string, args *PolicyArgs, opts ...pulumi.ResourceOption) error {
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(args.App), Namespace: pulumi.String(args.Namespace), Labels: stringMap(args.Labels)}
	selector := map[string]string{LabelName: args.App}
	var ingress networkingv1.NetworkPolicyIngressRuleArray
	for _, p := range args.Ingress {
		rule := networkingv1.NetworkPolicyIngressRuleArgs{Ports: policyPorts(p.Ports, false)}
		if p.App != "" {
			rule.From = networkingv1.NetworkPolicyPeerArray{podPeer(p.App)}
		}
		ingress = append(ingress, rule)
	}
	egress := networkingv1.NetworkPolicyEgressRuleArray{
		// Name resolution, wherever the cluster runs its DNS.
		networkingv1.NetworkPolicyEgressRuleArgs{Ports: policyPorts([]int{53}, true)},
	}
	for _, p := range args.Egress {
		rule := networkingv1.NetworkPolicyEgressRuleArgs{Ports: policyPorts(p.Ports, false)}
		if p.App != "" {
			rule.To = networkingv1.NetworkPolicyPeerArray{podPeer(p.App)}
		}
		egress = append(egress, rule)
	}
	spec := &networkingv1.NetworkPolicySpecArgs{
		PodSelector: &metav1.LabelSelectorArgs{MatchLabels: stringMap(selector)},
		PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		Egress:      egress,
	}
	// No rules at all is written by leaving the list out: the API server drops an
	// empty list, and declaring one would make every apply a change.
	if len(ingress) > 0 {
		spec.Ingress = ingress
	}
	_, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{Metadata: meta, Spec: spec}, opts...)
	return err
}

func podPeer(app string) networkingv1.NetworkPolicyPeerArgs {
	return networkingv1.NetworkPolicyPeerArgs{
		PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{LabelName: pulumi.String(app)}},
	}
}

// policyPorts lists ports as TCP (and UDP too when both is set); nil allows all ports.
func policyPorts(ports []int, both bool) networkingv1.NetworkPolicyPortArray {
	if len(ports) == 0 {
		return nil
	}
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range sortedInts(ports) {
		out = append(out, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
		if both {
			out = append(out, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(p)})
		}
	}
	return out
}
