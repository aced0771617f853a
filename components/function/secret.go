package function

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NewSecret declares the Kubernetes Secret name in namespace holding data. Every value
// is marked secret for Pulumi, so it is encrypted in state and never shown, whatever
// the caller passed.
func NewSecret(ctx *pulumi.Context, name, namespace string, data map[string]pulumi.StringInput, opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	values := pulumi.StringMap{}
	for k, v := range data {
		values[k] = pulumi.ToSecret(v.ToStringOutput()).(pulumi.StringOutput)
	}
	s, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(name), Namespace: pulumi.String(namespace),
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
