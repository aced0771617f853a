package workload

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SecretArgs describe a Kubernetes Secret.
type SecretArgs struct {
	// Name of the object (required).
	Name string
	// Namespace of the object (required).
	Namespace string
	// Data maps keys to values (required).
	Data map[string]pulumi.StringInput
}

// NewSecret declares the Kubernetes Secret name holding args.Data. Every value is
// marked secret for Pulumi, so it is encrypted in state and never shown, whatever the
// caller passed.
func NewSecret(ctx *pulumi.Context, name string, args *SecretArgs, opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	values := pulumi.StringMap{}
	for k, v := range args.Data {
		values[k] = pulumi.ToSecret(v.ToStringOutput()).(pulumi.StringOutput)
	}
	s, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(args.Name), Namespace: pulumi.String(args.Namespace),
			Labels: stringMap(map[string]string{LabelPartOf: "smartx", LabelMgr: "pulumi"}),
		},
		Type:       pulumi.String("Opaque"),
		StringData: values,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return s, nil
}
