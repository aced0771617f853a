// Package e2e holds the conformance test of the stack program against a real
// Kubernetes API server (make e2e): the program runs under Pulumi's mock engine, every
// Kubernetes resource it declares becomes a manifest, and the manifests are
// server-side applied to a control plane on 127.0.0.1 whose nodes (tower, hub,
// storage) kwok simulates. The test then checks what a `pulumi up` to a real cluster
// needs: everything rolls out, binds, schedules on its role and gets endpoints; a run
// of each CronJob is admitted and completes; a second apply changes nothing; deleting
// leaves nothing behind.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
	"github.com/smartx-team/overcloud/stacks/internal/controlplane"
	"github.com/smartx-team/overcloud/stacks/program"
)

const namespace = "smartx"

// stackConfig is a full stack config with test secrets and extra settings.
func stackConfig(extra map[string]string) (map[string]string, []string) {
	cfg := map[string]string{
		"smartx:hubbridgeImage":  "127.0.0.1:5000/hubbridge@sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"smartx:senderImage":     "127.0.0.1:5000/sender@sha256:2222222222222222222222222222222222222222222222222222222222222222",
		"smartx:inferenceImage":  "127.0.0.1:5000/inference@sha256:3333333333333333333333333333333333333333333333333333333333333333",
		"smartx:trainerImage":    "127.0.0.1:5000/trainer@sha256:4444444444444444444444444444444444444444444444444444444444444444",
		"smartx:controllerImage": "127.0.0.1:5000/controller@sha256:5555555555555555555555555555555555555555555555555555555555555555",
		"smartx:dashboardImage":  "127.0.0.1:5000/dashboard@sha256:6666666666666666666666666666666666666666666666666666666666666666",
		"smartx:airConditioners": `["pi-1","pi-2"]`,
	}
	for k, v := range extra {
		cfg["smartx:"+k] = v
	}
	var keys []string
	for k, v := range map[string]string{
		"influxPassword": "e2e-influx-pass", "influxToken": "e2e-influx-token", "mongoPassword": "e2e-mongo-pass",
		"postgresPassword": "e2e-pg-pass", "grafanaPassword": "e2e-grafana-pass",
		"deviceTokens": `{"pi-1":"e2e-device-token"}`, "owmApiKey": "e2e-owm-key",
		"controllerApiToken": "e2e-controller-token", "commandToken": "e2e-command-token",
		"dashboardUsers": "e2e:$2y$10$e2e-dashboard-users",
	} {
		cfg["smartx:"+k] = v
		keys = append(keys, "smartx:"+k)
	}
	return cfg, keys
}

// phases times the test's phases and prints them at the end.
type phases struct {
	t     *testing.T
	names []string
	times []time.Duration
	start time.Time
}

func (p *phases) begin() { p.start = time.Now() }
func (p *phases) end(name string) {
	d := time.Since(p.start)
	p.names, p.times = append(p.names, name), append(p.times, d)
	p.t.Logf("phase %-28s %8.2fs", name, d.Seconds())
}

func TestConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ph := &phases{t: t}
	dir := t.TempDir()

	ph.begin()
	cluster, err := controlplane.Start(ctx, dir, []controlplane.Node{
		{Name: "tower-1", Labels: map[string]string{workload.DefaultRoleLabel: workload.RoleTower}},
		{Name: "hub-1", Labels: map[string]string{workload.DefaultRoleLabel: workload.RoleHub}},
		{Name: "storage-1", Labels: map[string]string{workload.DefaultRoleLabel: workload.RoleStorage}},
	})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(cluster.Logs())
		}
		if err := cluster.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	ph.end("start control plane")

	// The small stack (standalone hub, one broker) and the largest (EdgeX, three
	// brokers), one after the other on the same control plane.
	for _, stack := range []struct {
		name  string
		extra map[string]string
	}{
		{"standalone", map[string]string{"hubMode": "standalone", "kafkaBrokers": "1"}},
		{"edgex", map[string]string{"hubMode": "edgex", "kafkaBrokers": "3"}},
	} {
		t.Run(stack.name, func(t *testing.T) {
			conform(ctx, t, cluster, filepath.Join(dir, stack.name), stack.extra)
		})
	}
}

// conform applies the stack with config extra, checks it converges, re-applies it
// without change and deletes it.
func conform(ctx context.Context, t *testing.T, cluster *controlplane.Cluster, dir string, extra map[string]string) {
	ph := &phases{t: t}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ph.begin()
	cfg, keys := stackConfig(extra)
	mocks, err := pulumitest.Run(program.Project, "e2e", cfg, keys, program.Run)
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	manifests, err := componenttest.Manifests(mocks.Resources())
	if err != nil {
		t.Fatal(err)
	}
	applyFile := filepath.Join(dir, "stack.yaml")
	deleteFile := filepath.Join(dir, "stack-reversed.yaml")
	writeManifests(t, applyFile, slices.All(manifests))
	writeManifests(t, deleteFile, slices.Backward(manifests))
	ph.end(fmt.Sprintf("program to %d manifests", len(manifests)))

	kubectl := func(args ...string) []byte {
		t.Helper()
		out, err := cluster.Kubectl(ctx, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	apply := func() {
		t.Helper()
		kubectl("apply", "--server-side", "--field-manager", "smartx-e2e", "-f", applyFile)
	}

	ph.begin()
	apply()
	ph.end("server-side apply")

	ph.begin()
	waitReady(ctx, t, cluster, manifests)
	ph.end("apply to ready")

	ph.begin()
	runCronJobs(ctx, t, cluster, manifests, kubectl)
	ph.end("a run of each CronJob")

	ph.begin()
	before := snapshot(t, kubectl, manifests)
	if out, err := cluster.Kubectl(ctx, nil, "diff", "--server-side", "--field-manager", "smartx-e2e", "-f", applyFile); err != nil {
		t.Errorf("kubectl diff after rollout: %v\n%s", err, out)
	}
	apply()
	after := snapshot(t, kubectl, manifests)
	for id, v := range before {
		if after[id] != v {
			t.Errorf("second apply changed %s: %s -> %s", id, v, after[id])
		}
	}
	if len(after) != len(before) {
		t.Errorf("second apply: %d objects, was %d", len(after), len(before))
	}
	ph.end("second apply (no change)")

	ph.begin()
	kubectl("delete", "--wait=true", "--timeout=3m", "--ignore-not-found", "-f", deleteFile)
	waitGone(ctx, t, cluster)
	ph.end("delete")
}

func writeManifests(t *testing.T, path string, ms func(func(int, componenttest.Manifest) bool)) {
	t.Helper()
	var b bytes.Buffer
	for _, m := range ms {
		j, err := json.Marshal(m.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(j)
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// list is the part of `kubectl get -o json` the checks read.
type list struct {
	Items []object `json:"items"`
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		Generation      int64             `json:"generation"`
		ResourceVersion string            `json:"resourceVersion"`
		Labels          map[string]string `json:"labels"`
		OwnerReferences []struct {
			Kind string `json:"kind"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Replicas     *int64            `json:"replicas"`
		NodeName     string            `json:"nodeName"`
		NodeSelector map[string]string `json:"nodeSelector"`
		ClaimRef     *struct {
			Namespace string `json:"namespace"`
		} `json:"claimRef"`
	} `json:"spec"`
	Status struct {
		Phase              string `json:"phase"`
		ObservedGeneration int64  `json:"observedGeneration"`
		Replicas           int64  `json:"replicas"`
		ReadyReplicas      int64  `json:"readyReplicas"`
		UpdatedReplicas    int64  `json:"updatedReplicas"`
		AvailableReplicas  int64  `json:"availableReplicas"`
		CurrentRevision    string `json:"currentRevision"`
		UpdateRevision     string `json:"updateRevision"`
		Succeeded          int64  `json:"succeeded"`
	} `json:"status"`
	// EndpointSlice fields.
	Endpoints []struct {
		Addresses []string `json:"addresses"`
	} `json:"endpoints"`
}

// ownedBy says whether an owner of o is of kind.
func (o object) ownedBy(kind string) bool {
	for _, r := range o.Metadata.OwnerReferences {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

func get(ctx context.Context, c *controlplane.Cluster, args ...string) (list, error) {
	out, err := c.Kubectl(ctx, nil, append([]string{"get", "-o", "json"}, args...)...)
	if err != nil {
		return list{}, err
	}
	var l list
	if err := json.Unmarshal(out, &l); err != nil {
		return list{}, fmt.Errorf("decode kubectl get %v: %w", args, err)
	}
	return l, nil
}

// notReady returns what is not yet converged: rollouts, claims, placement, endpoints.
func notReady(ctx context.Context, c *controlplane.Cluster, manifests []componenttest.Manifest) ([]string, error) {
	var problems []string
	want := map[string]int{}
	for _, m := range manifests {
		want[m.Kind]++
	}
	ns := []string{"-n", namespace}
	deploys, err := get(ctx, c, append(ns, "deployments")...)
	if err != nil {
		return nil, err
	}
	sets, err := get(ctx, c, append(ns, "statefulsets")...)
	if err != nil {
		return nil, err
	}
	crons, err := get(ctx, c, append(ns, "cronjobs")...)
	if err != nil {
		return nil, err
	}
	if len(deploys.Items) != want["Deployment"] || len(sets.Items) != want["StatefulSet"] || len(crons.Items) != want["CronJob"] {
		problems = append(problems, fmt.Sprintf("%d Deployments, %d StatefulSets and %d CronJobs exist, %d, %d and %d declared",
			len(deploys.Items), len(sets.Items), len(crons.Items), want["Deployment"], want["StatefulSet"], want["CronJob"]))
	}
	// The StatefulSets' claims, one per replica, and the declared ones (shared claims).
	claims := int64(want["PersistentVolumeClaim"])
	for _, d := range deploys.Items {
		r := *d.Spec.Replicas
		if d.Status.ObservedGeneration < d.Metadata.Generation || d.Status.UpdatedReplicas != r || d.Status.AvailableReplicas != r {
			problems = append(problems, fmt.Sprintf("deployment %s: %d/%d available", d.Metadata.Name, d.Status.AvailableReplicas, r))
		}
	}
	for _, s := range sets.Items {
		r := *s.Spec.Replicas
		claims += r
		if s.Status.ObservedGeneration < s.Metadata.Generation || s.Status.ReadyReplicas != r || s.Status.UpdatedReplicas != r || s.Status.CurrentRevision != s.Status.UpdateRevision {
			problems = append(problems, fmt.Sprintf("statefulset %s: %d/%d ready", s.Metadata.Name, s.Status.ReadyReplicas, r))
		}
	}
	jobs, err := get(ctx, c, append(ns, "jobs")...)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs.Items {
		if j.Status.Succeeded < 1 {
			problems = append(problems, "job "+j.Metadata.Name+" not complete")
		}
	}
	pvcs, err := get(ctx, c, append(ns, "persistentvolumeclaims")...)
	if err != nil {
		return nil, err
	}
	if int64(len(pvcs.Items)) != claims {
		problems = append(problems, fmt.Sprintf("%d claims, want %d", len(pvcs.Items), claims))
	}
	for _, p := range pvcs.Items {
		if p.Status.Phase != "Bound" {
			problems = append(problems, "claim "+p.Metadata.Name+" "+p.Status.Phase)
		}
	}
	nodes, err := get(ctx, c, "nodes")
	if err != nil {
		return nil, err
	}
	roleOf := map[string]string{}
	for _, n := range nodes.Items {
		roleOf[n.Metadata.Name] = n.Metadata.Labels[workload.DefaultRoleLabel]
	}
	pods, err := get(ctx, c, append(ns, "pods")...)
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		want := p.Spec.NodeSelector[workload.DefaultRoleLabel]
		switch {
		case p.Spec.NodeName == "":
			problems = append(problems, "pod "+p.Metadata.Name+" not scheduled")
		case want == "":
			problems = append(problems, "pod "+p.Metadata.Name+" has no role")
		case roleOf[p.Spec.NodeName] != want:
			problems = append(problems, fmt.Sprintf("pod %s of role %s on node %s", p.Metadata.Name, want, p.Spec.NodeName))
		}
	}
	services, err := get(ctx, c, append(ns, "services")...)
	if err != nil {
		return nil, err
	}
	if len(services.Items) != want["Service"] {
		problems = append(problems, fmt.Sprintf("%d Services, %d declared", len(services.Items), want["Service"]))
	}
	eps, err := get(ctx, c, append(ns, "endpointslices")...)
	if err != nil {
		return nil, err
	}
	addresses := map[string]int{}
	for _, s := range eps.Items {
		for _, e := range s.Endpoints {
			addresses[s.Metadata.Labels["kubernetes.io/service-name"]] += len(e.Addresses)
		}
	}
	for _, s := range services.Items {
		if addresses[s.Metadata.Name] == 0 {
			problems = append(problems, "service "+s.Metadata.Name+" has no endpoints")
		}
	}
	return problems, nil
}

// runCronJobs starts one run of every declared CronJob now, as `kubectl create job
// --from=cronjob/...` does, and waits until each has completed. A CronJob's pod
// template is only warned about by Pod Security admission; its run's pod is where the
// namespace's restricted level is enforced, and it must also be scheduled on its role
// with its claims (the trainer's shared model claim) bound.
func runCronJobs(ctx context.Context, t *testing.T, c *controlplane.Cluster, manifests []componenttest.Manifest, kubectl func(...string) []byte) {
	t.Helper()
	var runs []string
	for _, m := range manifests {
		if m.Kind == "CronJob" {
			runs = append(runs, m.Name+"-e2e")
			kubectl("create", "job", "-n", namespace, "--from=cronjob/"+m.Name, m.Name+"-e2e")
		}
	}
	if len(runs) == 0 {
		t.Fatal("the stack declares no CronJob (the trainer)")
	}
	waitReady(ctx, t, c, manifests)
	jobs, err := get(ctx, c, "-n", namespace, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		i := slices.IndexFunc(jobs.Items, func(j object) bool { return j.Metadata.Name == run })
		if i < 0 || jobs.Items[i].Status.Succeeded < 1 {
			t.Errorf("run %s of its CronJob did not complete", run)
		}
	}
}

func waitReady(ctx context.Context, t *testing.T, c *controlplane.Cluster, manifests []componenttest.Manifest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		problems, err := notReady(ctx, c, manifests)
		if err == nil && len(problems) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			if err != nil {
				t.Fatalf("not ready: %v", err)
			}
			events, _ := c.Kubectl(context.Background(), nil, "get", "events", "-n", namespace, "--sort-by=.lastTimestamp")
			t.Fatalf("not ready after 5 minutes:\n%s\nevents:\n%s", strings.Join(problems, "\n"), events)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ourKinds are the kinds the stack declares and their controllers make.
const ourKinds = "namespaces,serviceaccounts,configmaps,secrets,services,deployments,statefulsets,cronjobs,jobs,poddisruptionbudgets,networkpolicies,persistentvolumeclaims"

// snapshot maps every object the stack declared to its version: the generation where
// the object has a spec (controllers update statuses on their own), else the
// resourceVersion.
func snapshot(t *testing.T, kubectl func(...string) []byte, manifests []componenttest.Manifest) map[string]string {
	t.Helper()
	var l list
	if err := json.Unmarshal(kubectl("get", "-o", "json", "-n", namespace, ourKinds), &l); err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, m := range manifests {
		declared[m.Kind+"/"+m.Name] = true
	}
	out := map[string]string{}
	for _, o := range l.Items {
		if o.Kind == "ConfigMap" && o.Metadata.Name == "kube-root-ca.crt" || o.Kind == "ServiceAccount" && o.Metadata.Name == "default" ||
			o.Kind == "PersistentVolumeClaim" && !declared["PersistentVolumeClaim/"+o.Metadata.Name] ||
			o.Kind == "Job" && o.ownedBy("CronJob") {
			continue // made by controllers (a StatefulSet's claims, a CronJob's runs), not declared
		}
		id := o.Kind + "/" + o.Metadata.Name
		if o.Metadata.Generation > 0 {
			out[id] = fmt.Sprintf("generation %d", o.Metadata.Generation)
		} else {
			out[id] = "resourceVersion " + o.Metadata.ResourceVersion
		}
	}
	return out
}

// waitGone waits until the namespace, its objects and the volumes bound to its claims
// are gone.
func waitGone(ctx context.Context, t *testing.T, c *controlplane.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		var left []string
		out, err := c.Kubectl(ctx, nil, "get", "-A", "-o", "name", "-l", workload.LabelPartOf+"=smartx", ourKinds+",pods")
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, strings.Fields(string(out))...)
		if _, err := c.Kubectl(ctx, nil, "get", "namespace", namespace); err == nil {
			left = append(left, "namespace/"+namespace)
		}
		pvs, err := get(ctx, c, "persistentvolumes")
		if err != nil {
			t.Fatal(err)
		}
		for _, pv := range pvs.Items {
			if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == namespace {
				left = append(left, "persistentvolume/"+pv.Metadata.Name)
			}
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("left after delete: %s", strings.Join(left, " "))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
