package overcloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"gopkg.in/yaml.v3"
)

// Kubeconfig is the part of a kubeconfig file this package writes and reads: one
// cluster, one user (a client certificate), one context.
type Kubeconfig struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []namedCluster `yaml:"clusters"`
	Users          []namedUser    `yaml:"users"`
	Contexts       []namedContext `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
}

type namedCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server                   string `yaml:"server"`
		CertificateAuthorityData string `yaml:"certificate-authority-data"`
	} `yaml:"cluster"`
}

type namedUser struct {
	Name string `yaml:"name"`
	User struct {
		ClientCertificateData string `yaml:"client-certificate-data"`
		ClientKeyData         string `yaml:"client-key-data"`
	} `yaml:"user"`
}

type namedContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster string `yaml:"cluster"`
		User    string `yaml:"user"`
	} `yaml:"context"`
}

// KubeconfigName names the cluster, user and context in the kubeconfig.
const KubeconfigName = "smartx-overcloud"

// BuildKubeconfig returns a kubeconfig for server (https://host:port) that trusts
// caPEM and authenticates with the client certificate certPEM and its key keyPEM.
func BuildKubeconfig(server, caPEM, certPEM, keyPEM string) (string, error) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	k := Kubeconfig{APIVersion: "v1", Kind: "Config", CurrentContext: KubeconfigName}
	var c namedCluster
	c.Name, c.Cluster.Server, c.Cluster.CertificateAuthorityData = KubeconfigName, server, enc(caPEM)
	var u namedUser
	u.Name, u.User.ClientCertificateData, u.User.ClientKeyData = KubeconfigName, enc(certPEM), enc(keyPEM)
	var x namedContext
	x.Name, x.Context.Cluster, x.Context.User = KubeconfigName, KubeconfigName, KubeconfigName
	k.Clusters, k.Users, k.Contexts = []namedCluster{c}, []namedUser{u}, []namedContext{x}
	b, err := yaml.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return string(b), nil
}

// client returns the server URL and an HTTP client that authenticates as the
// kubeconfig's user and trusts only its CA.
func (k *Kubeconfig) client() (string, *http.Client, error) {
	if len(k.Clusters) != 1 || len(k.Users) != 1 {
		return "", nil, errors.New("kubeconfig: want one cluster and one user")
	}
	dec := func(s string) []byte { b, _ := base64.StdEncoding.DecodeString(s); return b }
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(dec(k.Clusters[0].Cluster.CertificateAuthorityData)) {
		return "", nil, errors.New("kubeconfig: no CA certificate")
	}
	cert, err := tls.X509KeyPair(dec(k.Users[0].User.ClientCertificateData), dec(k.Users[0].User.ClientKeyData))
	if err != nil {
		return "", nil, fmt.Errorf("kubeconfig client certificate: %w", err)
	}
	return k.Clusters[0].Cluster.Server, &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
	}, nil
}

// WaitForCluster polls the API of kubeconfig every few seconds until /readyz answers
// ok and at least nodes nodes are Ready, or ctx ends (then the last failure is
// wrapped in the error). The server must present a certificate of the kubeconfig's
// CA and accept its client certificate: an impostor never counts as ready.
func WaitForCluster(ctx context.Context, kubeconfig string, nodes int) error {
	return waitForCluster(ctx, kubeconfig, nodes, 5*time.Second)
}

func waitForCluster(ctx context.Context, kubeconfig string, nodes int, every time.Duration) error {
	var k Kubeconfig
	if err := yaml.Unmarshal([]byte(kubeconfig), &k); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	server, hc, err := k.client()
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	for {
		last := poll(ctx, hc, server, nodes)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %s not ready: %w (last: %w)", server, ctx.Err(), last)
		case <-time.After(every):
		}
	}
}

func poll(ctx context.Context, hc *http.Client, server string, want int) error {
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return b, nil
	}
	if _, err := get("/readyz"); err != nil {
		return err
	}
	b, err := get("/api/v1/nodes")
	if err != nil {
		return err
	}
	var list struct {
		Items []struct {
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("node list: %w", err)
	}
	ready := 0
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				ready++
			}
		}
	}
	if ready < want {
		return fmt.Errorf("%d of %d nodes ready", ready, want)
	}
	return nil
}
