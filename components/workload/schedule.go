package workload

import (
	"fmt"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// cronJob declares the CronJob of a scheduled workload. Runs never overlap (a slow
// run delays the next instead of racing it), a failed run is retried twice, and the
// last three runs of each outcome are kept for `kubectl logs`.
func cronJob(ctx *pulumi.Context, name string, a *Args, o objects, template *corev1.PodTemplateSpecArgs, deps []pulumi.Resource, opts []pulumi.ResourceOption) (*batchv1.CronJob, error) {
	return batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: o.meta(o.name),
		Spec: &batchv1.CronJobSpecArgs{
			Schedule:                   pulumi.String(a.Schedule),
			ConcurrencyPolicy:          pulumi.String("Forbid"),
			SuccessfulJobsHistoryLimit: pulumi.Int(3),
			FailedJobsHistoryLimit:     pulumi.Int(3),
			JobTemplate: &batchv1.JobTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: stringMap(o.labels)},
				Spec: &batchv1.JobSpecArgs{
					BackoffLimit: pulumi.Int(2),
					Template:     template,
				},
			},
		},
	}, append(opts, pulumi.DependsOn(deps))...)
}

// ClaimArgs describe a PersistentVolumeClaim that several workloads mount (Claims).
type ClaimArgs struct {
	// Name of the claim (required, a DNS label) and its Namespace (required).
	Name, Namespace string
	// Size (default "1Gi").
	Size string
	// StorageClass (default: the cluster's default class).
	StorageClass string
	// AccessMode (default ReadWriteOnce: with a node-local class such as k3s's
	// local-path, every pod that mounts it must then run on the same node).
	AccessMode string
	// DependsOn are resources the claim waits for (the Namespace).
	DependsOn []pulumi.Resource
}

// NewClaim declares a PersistentVolumeClaim for Claims.
func NewClaim(ctx *pulumi.Context, name string, a *ClaimArgs, opts ...pulumi.ResourceOption) (*corev1.PersistentVolumeClaim, error) {
	if a == nil || !dnsLabel.MatchString(a.Name) || a.Namespace == "" {
		return nil, fmt.Errorf("claim %s: Name (a DNS label) and Namespace are required", name)
	}
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.StringArray{pulumi.String(Or(a.AccessMode, "ReadWriteOnce"))},
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.String(Or(a.Size, "1Gi"))},
		},
	}
	if a.StorageClass != "" {
		spec.StorageClassName = pulumi.String(a.StorageClass)
	}
	return corev1.NewPersistentVolumeClaim(ctx, name, &corev1.PersistentVolumeClaimArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(a.Name), Namespace: pulumi.String(a.Namespace),
			Labels: stringMap(map[string]string{LabelPartOf: "smartx", LabelMgr: "pulumi"}),
		},
		Spec: spec,
	}, append(opts, pulumi.DependsOn(a.DependsOn))...)
}
