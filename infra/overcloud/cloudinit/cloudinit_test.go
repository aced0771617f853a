package cloudinit_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit"
	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit/cloudinittest"
)

// The node label and roles infra gives nodes. Written out here, not imported: the
// renderer takes them as plain values, and importing infra would compile the AWS SDK
// for these tests (stacks' TestRolesMatchComponents checks infra's against the
// components').
const (
	roleLabel   = "smartx.io/role"
	roleTower   = "tower"
	roleHub     = "hub"
	roleStorage = "storage"
)

const (
	serverToken = "server-token-3c1f9e"
	agentToken  = "agent-token-77b0aa"
	version     = "v1.33.4+k3s1"
)

// newCA makes a self-signed ECDSA CA, PEM encoded.
func newCA(t *testing.T, cn string) cloudinit.CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cloudinit.CA{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})),
	}
}

// nodes returns a server (tower) and agents of the other roles, as infra declares them.
func nodes(t *testing.T) (server cloudinit.Node, agents []cloudinit.Node, secrets []string) {
	t.Helper()
	sca, cca := newCA(t, "smartx-server-ca"), newCA(t, "smartx-client-ca")
	server = cloudinit.Node{
		Mode: cloudinit.ModeServer, Version: version, Name: "dev-tower-0",
		Labels: map[string]string{roleLabel: roleTower},
		Token:  serverToken, AgentToken: agentToken, ServerCA: sca, ClientCA: cca,
		TLSSANs: []string{"203.0.113.10", "10.40.0.10"}, AdvertiseAddress: "10.40.0.10",
	}
	join := cloudinit.JoinToken(sca.CertPEM, agentToken)
	for _, role := range []string{roleHub, roleStorage, roleTower} {
		agents = append(agents, cloudinit.Node{
			Mode: cloudinit.ModeAgent, Version: version, Name: "dev-" + role + "-1",
			Labels:    map[string]string{roleLabel: role},
			Taints:    map[bool][]string{true: {"smartx.io/dedicated=storage:NoSchedule"}}[role == roleStorage],
			Token:     join,
			ServerURL: "https://10.40.0.10:6443",
		})
	}
	return server, agents, []string{serverToken, agentToken, sca.KeyPEM, cca.KeyPEM}
}

func render(t *testing.T, n cloudinit.Node) string {
	t.Helper()
	ud, err := n.Render()
	if err != nil {
		t.Fatalf("render %s: %v", n.Name, err)
	}
	return ud
}

func TestServerBoots(t *testing.T) {
	server, _, _ := nodes(t)
	node := cloudinittest.Boot(t, render(t, server))
	k := node.K3s
	if k["node-name"] != "dev-tower-0" || k["token-file"] != cloudinit.TokenPath || k["agent-token-file"] != cloudinit.AgentTokenPath {
		t.Errorf("k3s config:\n%s", node.K3sText)
	}
	if got := fmt.Sprint(k["node-label"]); got != "["+roleLabel+"="+roleTower+"]" {
		t.Errorf("node-label = %s", got)
	}
	if got := fmt.Sprint(k["tls-san"]); got != "[203.0.113.10 10.40.0.10]" {
		t.Errorf("tls-san = %s", got)
	}
	if k["secrets-encryption"] != true || k["advertise-address"] != "10.40.0.10" || k["write-kubeconfig-mode"] != "0600" {
		t.Errorf("server settings:\n%s", node.K3sText)
	}
	if _, ok := k["node-taint"]; ok {
		t.Errorf("server has taints:\n%s", node.K3sText)
	}
	// k3s uses CA files that exist at its first start: all four must be there, the
	// keys readable by root only.
	for _, f := range []string{"server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key"} {
		fi, err := os.Stat(filepath.Join(node.Root, cloudinit.TLSDir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, ".key") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	// The CA arrives byte for byte, so the join token's hash matches what the
	// server will present at /cacerts.
	_, ca, _ := node.Content(cloudinit.TLSDir + "/server-ca.crt")
	sum := sha256.Sum256([]byte(ca))
	if ca != server.ServerCA.CertPEM || !strings.HasPrefix(cloudinit.JoinToken(ca, agentToken), "K10"+hex.EncodeToString(sum[:])+"::node:") {
		t.Error("server CA changed on the way or the join token's hash does not cover it")
	}
}

func TestAgentsBoot(t *testing.T) {
	_, agents, _ := nodes(t)
	for _, a := range agents {
		t.Run(a.Name, func(t *testing.T) {
			node := cloudinittest.Boot(t, render(t, a))
			k := node.K3s
			if k["server"] != a.ServerURL || k["token-file"] != cloudinit.TokenPath {
				t.Errorf("k3s config:\n%s", node.K3sText)
			}
			role := a.Labels[roleLabel]
			if got := fmt.Sprint(k["node-label"]); got != "["+roleLabel+"="+role+"]" {
				t.Errorf("node-label = %s", got)
			}
			if got, want := fmt.Sprint(k["node-taint"]), fmt.Sprint(a.Taints); len(a.Taints) > 0 && got != want {
				t.Errorf("node-taint = %s, want %s", got, want)
			}
			for _, key := range []string{"agent-token-file", "tls-san", "secrets-encryption"} {
				if _, ok := k[key]; ok {
					t.Errorf("agent config has server setting %s", key)
				}
			}
			if _, _, ok := node.Content(cloudinit.AgentTokenPath); ok {
				t.Error("an agent received the agent token file of the server")
			}
			if _, _, ok := node.Content(cloudinit.TLSDir + "/server-ca.key"); ok {
				t.Error("an agent received a CA key")
			}
			b, err := os.ReadFile(filepath.Join(node.Root, cloudinit.TokenPath))
			if err != nil || strings.TrimSpace(string(b)) != a.Token {
				t.Errorf("token file: %q, %v", b, err)
			}
		})
	}
}

// Secrets are only in root-only files the k3s config points at: never in the env
// file, the script, the rendered k3s config or a world-readable file.
func TestSecretsOnlyInRootOnlyFiles(t *testing.T) {
	server, agents, secrets := nodes(t)
	for _, n := range append(agents, server) {
		node := cloudinittest.Boot(t, render(t, n))
		if strings.Contains(node.K3sText, serverToken) || strings.Contains(node.K3sText, agentToken) {
			t.Errorf("%s: k3s config holds a token", n.Name)
		}
		for _, f := range node.Config.WriteFiles {
			_, content, _ := node.Content(f.Path)
			for _, s := range append(secrets, n.Token) {
				if strings.Contains(content, strings.TrimSpace(s)) && f.Permissions != "0600" {
					t.Errorf("%s: %s (mode %s) holds a secret", n.Name, f.Path, f.Permissions)
				}
			}
		}
	}
}

func TestJoinCommand(t *testing.T) {
	server, _, _ := nodes(t)
	token := cloudinit.JoinToken(server.ServerCA.CertPEM, agentToken)
	cmd := cloudinit.JoinCommand("https://203.0.113.10:6443", version, token,
		map[string]string{roleLabel: roleHub}, nil)
	cloudinittest.Shellcheck(t, "join command", "#!/bin/sh\n"+cmd+"\n")
	for _, want := range []string{
		"'https://raw.githubusercontent.com/k3s-io/k3s/v1.33.4%2Bk3s1/install.sh'",
		"INSTALL_K3S_VERSION='" + version + "'", "K3S_URL='https://203.0.113.10:6443'",
		"K3S_TOKEN='" + token + "'", "sh -s - agent --node-label '" + roleLabel + "=" + roleHub + "'",
	} {
		if !strings.Contains(cmd, want) {
			t.Errorf("join command lacks %s:\n%s", want, cmd)
		}
	}
	if len(token) != 3+64+len("::node:")+len(agentToken) {
		t.Errorf("join token %q is not K10<sha256>::node:<token>", token)
	}
}

func TestBootstrapScriptRefusesIncompleteSettings(t *testing.T) {
	root := t.TempDir()
	script := filepath.Join(root, "bootstrap.sh")
	if err := os.WriteFile(script, []byte(cloudinit.BootstrapScript), 0o755); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(root, cloudinit.EnvPath)
	if err := os.MkdirAll(filepath.Dir(env), 0o755); err != nil {
		t.Fatal(err)
	}
	// Each incomplete file is refused with a message naming the setting (key).
	for name, tc := range map[string]struct{ content, key string }{
		"no server url": {"K3S_MODE='agent'\nK3S_VERSION='" + version + "'\nK3S_NODE_NAME='n'\nK3S_LABELS='a=b'\nK3S_TOKEN_FILE='/t'\n", "K3S_SERVER_URL"},
		"bad mode":      {"K3S_MODE='both'\nK3S_VERSION='" + version + "'\nK3S_NODE_NAME='n'\nK3S_LABELS='a=b'\nK3S_TOKEN_FILE='/t'\n", "K3S_MODE"},
		"no labels":     {"K3S_MODE='agent'\nK3S_VERSION='" + version + "'\nK3S_NODE_NAME='n'\nK3S_TOKEN_FILE='/t'\nK3S_SERVER_URL='https://x:6443'\n", "K3S_LABELS"},
	} {
		if err := os.WriteFile(env, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := cloudinittest.Command(script, root)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: script accepted it:\n%s", name, out)
		} else if !strings.Contains(string(out), tc.key) {
			t.Errorf("%s: the script's refusal does not name %s:\n%s", name, tc.key, out)
		}
		if _, err := os.Stat(filepath.Join(root, cloudinit.ConfigPath)); err == nil {
			t.Errorf("%s: script rendered a config anyway", name)
		}
	}
}

// Each bad Node is refused with ErrInvalid and an error naming the bad field.
func TestValidate(t *testing.T) {
	server, agents, _ := nodes(t)
	for name, tc := range map[string]struct {
		mutate func(n *cloudinit.Node)
		key    string
	}{
		"name":              {func(n *cloudinit.Node) { n.Name = "Tower_0" }, "Name:"},
		"mode":              {func(n *cloudinit.Node) { n.Mode = "both" }, "Mode "},
		"version":           {func(n *cloudinit.Node) { n.Version = "latest" }, "Version "},
		"no labels":         {func(n *cloudinit.Node) { n.Labels = nil }, "Labels:"},
		"label":             {func(n *cloudinit.Node) { n.Labels = map[string]string{"smartx.io/role": "tower hub"} }, "Labels:"},
		"taint":             {func(n *cloudinit.Node) { n.Taints = []string{"dedicated=hub"} }, "Taints:"},
		"no token":          {func(n *cloudinit.Node) { n.Token = "" }, "Token is required"},
		"same tokens":       {func(n *cloudinit.Node) { n.AgentToken = n.Token }, "AgentToken must differ"},
		"no agent token":    {func(n *cloudinit.Node) { n.AgentToken = "" }, "AgentToken is required"},
		"no CA":             {func(n *cloudinit.Node) { n.ClientCA = cloudinit.CA{} }, "ClientCA"},
		"quote in SANs":     {func(n *cloudinit.Node) { n.TLSSANs = []string{"a'b"} }, "TLSSANs:"},
		"quote in address":  {func(n *cloudinit.Node) { n.AdvertiseAddress = "10.0.0.1'" }, "AdvertiseAddress:"},
		"space in external": {func(n *cloudinit.Node) { n.ExternalIP = "203.0.113.1 x" }, "ExternalIP:"},
	} {
		n := server
		tc.mutate(&n)
		_, err := n.Render()
		if !errors.Is(err, cloudinit.ErrInvalid) {
			t.Errorf("%s: Render error %v, want ErrInvalid", name, err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Render error %v, want one naming %q", name, err, tc.key)
		}
	}
	a := agents[0]
	a.ServerURL = "http://10.40.0.10:6443"
	if _, err := a.Render(); !errors.Is(err, cloudinit.ErrInvalid) || !strings.Contains(err.Error(), "ServerURL") {
		t.Errorf("agent with http server URL: %v, want ErrInvalid naming ServerURL", err)
	}
}
