// Package controlplane starts a real Kubernetes control plane on 127.0.0.1 for tests:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, whose fake
// nodes and pods let Deployments roll out, StatefulSets claim volumes and Services get
// endpoints without a container runtime. The binaries come from .ci/tools.sh. Every
// server listens on a free port of 127.0.0.1 and is stopped by its PID.
package controlplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Tools returns the folder of the tool binaries: $SMARTX_TOOLS_BIN, else the cache
// .ci/tools.sh fills.
func Tools() string {
	if d := os.Getenv("SMARTX_TOOLS_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "smartx-overcloud", "tools", "bin")
}

// Node is one fake node.
type Node struct {
	Name   string
	Labels map[string]string
}

// Cluster is a running control plane.
type Cluster struct {
	// Kubeconfig is the admin kubeconfig file.
	Kubeconfig string
	dir, bin   string
	procs      []*proc // in start order
}

// Start starts the control plane in dir (which must exist) with the given fake nodes
// and the kwok-volume default StorageClass, and waits until every node is Ready.
// Stop it with Stop, also when Start fails half-way (Stop is safe on a nil Cluster's
// parts).
func Start(ctx context.Context, dir string, nodes []Node) (c *Cluster, err error) {
	c = &Cluster{dir: dir, bin: Tools(), Kubeconfig: filepath.Join(dir, "kubeconfig")}
	for _, tool := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwok-stages.yaml", "kwok-storageclass.yaml"} {
		if _, err := os.Stat(filepath.Join(c.bin, tool)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make tools` (.ci/tools.sh etcd, kubernetes and kwok)", tool, c.bin)
		}
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	certs, err := newPKI(dir)
	if err != nil {
		return c, fmt.Errorf("certificates: %w", err)
	}
	ports := make([]int, 6)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return c, err
		}
	}
	etcdPort, peerPort, apiPort, cmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	plain := &http.Client{Timeout: 2 * time.Second}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	if err := c.start(ctx, "etcd", []string{"etcd",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort),
		"--log-level", "warn",
	}, httpReady(plain, etcdURL+"/health")); err != nil {
		return c, err
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	admin, err := adminClient(certs)
	if err != nil {
		return c, err
	}
	if err := c.start(ctx, "kube-apiserver", []string{"kube-apiserver",
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(apiPort),
		"--tls-cert-file", certs.ServerCert, "--tls-private-key-file", certs.ServerKey,
		"--client-ca-file", certs.CA,
		"--service-account-key-file", certs.SAPub, "--service-account-signing-key-file", certs.SAKey,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--authorization-mode", "Node,RBAC",
		"--endpoint-reconciler-type", "none",
		"--allow-privileged=false",
	}, httpReady(admin, server+"/readyz")); err != nil {
		return c, err
	}
	if err := writeKubeconfig(c.Kubeconfig, server, certs); err != nil {
		return c, err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if err := c.start(ctx, "kube-controller-manager", []string{"kube-controller-manager",
		"--kubeconfig", c.Kubeconfig, "--authentication-kubeconfig", c.Kubeconfig, "--authorization-kubeconfig", c.Kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(cmPort),
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--service-account-private-key-file", certs.SAKey, "--root-ca-file", certs.CA,
		"--controllers", "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
	}, httpReady(insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", cmPort))); err != nil {
		return c, err
	}
	if err := c.start(ctx, "kube-scheduler", []string{"kube-scheduler",
		"--kubeconfig", c.Kubeconfig, "--authentication-kubeconfig", c.Kubeconfig, "--authorization-kubeconfig", c.Kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(schedPort), "--leader-elect=false",
	}, httpReady(insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort))); err != nil {
		return c, err
	}
	if err := c.start(ctx, "kwok", []string{"kwok",
		"--kubeconfig", c.Kubeconfig, "--config", filepath.Join(c.bin, "kwok-stages.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		"--cidr", "10.0.0.1/16", "--node-ip", "127.0.0.1", "--node-lease-duration-seconds", "40",
		"--server-address", fmt.Sprintf("127.0.0.1:%d", kwokPort),
	}, httpReady(plain, fmt.Sprintf("http://127.0.0.1:%d/healthz", kwokPort))); err != nil {
		return c, err
	}

	if _, err := c.Kubectl(ctx, nil, "apply", "-f", filepath.Join(c.bin, "kwok-storageclass.yaml")); err != nil {
		return c, err
	}
	var docs bytes.Buffer
	for _, n := range nodes {
		b, _ := json.Marshal(fakeNode(n))
		docs.Write(b)
		docs.WriteString("\n")
	}
	if _, err := c.Kubectl(ctx, &docs, "apply", "-f", "-"); err != nil {
		return c, err
	}
	if _, err := c.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "node", "--all", "--timeout=60s"); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, name string, argv []string, ready func(context.Context) error) error {
	argv[0] = filepath.Join(c.bin, argv[0])
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	p, err := start(ctx, c.dir, name, argv, ready)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// Logs returns the tail of every server's log, for failure messages.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		b.WriteString(p.tail())
		b.WriteString("\n")
	}
	return b.String()
}

// Stop stops the servers in reverse start order, by PID.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop())
	}
	c.procs = nil
	return errors.Join(errs...)
}

// Kubectl runs kubectl against the cluster with stdin (may be nil) and returns its
// standard output; the error holds its standard error.
func (c *Cluster) Kubectl(ctx context.Context, stdin *bytes.Buffer, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// fakeNode is a node kwok manages: ready, with room for the whole stack.
func fakeNode(n Node) map[string]any {
	labels := map[string]any{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}
	for k, v := range n.Labels {
		labels[k] = v
	}
	capacity := map[string]any{"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
	return map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{
			"name": n.Name, "labels": labels,
			"annotations": map[string]any{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		"status": map[string]any{"allocatable": capacity, "capacity": capacity},
	}
}

func adminClient(certs *pki) (*http.Client, error) {
	pair, err := tls.LoadX509KeyPair(certs.AdminCert, certs.AdminKey)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
	}}, nil
}

func httpReady(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

func writeKubeconfig(path, server string, certs *pki) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, server, certs.CA, certs.AdminCert, certs.AdminKey)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
