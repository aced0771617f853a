// Package cloudinit renders the cloud-init user data that turns an OverCloud VM into a
// k3s node, and the command that joins an edge gateway outside the cloud to the same
// cluster. It knows nothing of AWS or Pulumi: infra calls it with plain values inside
// an Apply, so user data that carries secrets becomes a secret Output there.
//
// Every node gets the same boot script (bootstrap.sh, installed as
// /usr/local/sbin/smartx-k3s-bootstrap) and an env file naming its settings; the
// script renders /etc/rancher/k3s/config.yaml from them and installs k3s at the pinned
// version. Secrets never go into the env file or the k3s config: the join tokens and
// the cluster CA keys are written by cloud-init as root-only files (mode 0600) that
// k3s reads at its first start.
package cloudinit

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// BootstrapScript is the boot script every node runs once, from cloud-init's runcmd.
//
//go:embed bootstrap.sh
var BootstrapScript string

// Paths on the node.
const (
	ScriptPath     = "/usr/local/sbin/smartx-k3s-bootstrap"
	EnvPath        = "/etc/smartx/k3s.env"
	TokenPath      = "/etc/smartx/k3s/token"
	AgentTokenPath = "/etc/smartx/k3s/agent-token"
	// TLSDir is where k3s looks for its CA files before generating its own: files that
	// exist there at the first start are used as they are.
	TLSDir = "/var/lib/rancher/k3s/server/tls"
	// ConfigPath is the k3s config file the boot script renders.
	ConfigPath = "/etc/rancher/k3s/config.yaml"
)

// Header is the first line of every user data document cloud-init treats as cloud-config.
const Header = "#cloud-config\n"

// Modes of a node.
const (
	ModeServer = "server"
	ModeAgent  = "agent"
)

// CA is a certificate authority handed to k3s: PEM certificate and PEM private key.
type CA struct {
	CertPEM, KeyPEM string
}

// Node describes one VM. Mode, Version, Name, Labels and Token are required; Server
// nodes also need AgentToken, ServerCA and ClientCA; agents need ServerURL.
type Node struct {
	// Mode is ModeServer (the k3s control plane) or ModeAgent (required).
	Mode string
	// Version is the k3s release, for example "v1.33.4+k3s1" (required).
	Version string
	// Name is the Kubernetes node name (required, DNS label).
	Name string
	// Labels are node labels, key -> value (required: at least the role label).
	Labels map[string]string
	// Taints are node taints as key=value:Effect (optional, default none).
	Taints []string
	// Token is the secret the node joins with (required): the server token on the
	// server, the full agent join token (see JoinToken) on agents.
	Token string

	// ServerURL is the API the agent joins, https://host:6443 (required for agents).
	ServerURL string

	// AgentToken is the password agents join with (required for the server); it only
	// lets a node join as an agent, never as a server.
	AgentToken string
	// ServerCA signs the API's serving certificate; ClientCA signs client certificates
	// such as the admin kubeconfig's (both required for the server).
	ServerCA, ClientCA CA
	// TLSSANs are extra names and addresses of the API certificate (optional).
	TLSSANs []string
	// AdvertiseAddress is the address the API advertises to the cluster (optional,
	// default the node's IP).
	AdvertiseAddress string
	// ExternalIP is the node's public address (optional).
	ExternalIP string
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// labelKey is an optional DNS prefix and a name, as Kubernetes allows.
	labelKey   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	taint      = regexp.MustCompile(`^[^=:\s']+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)$`)
	version    = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$`)
	// plain is what may appear inside a single-quoted env file value.
	plain = regexp.MustCompile(`^[A-Za-z0-9._:/+=%@-]*$`)
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid node")

// Validate names the first bad field.
func (n *Node) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalid, n.Name, fmt.Sprintf(format, a...))
	}
	switch {
	case !dnsLabel.MatchString(n.Name) || len(n.Name) > 63:
		return bad("Name: want a DNS label")
	case n.Mode != ModeServer && n.Mode != ModeAgent:
		return bad("Mode %q: want %s or %s", n.Mode, ModeServer, ModeAgent)
	case !version.MatchString(n.Version):
		return bad("Version %q: want a k3s release such as v1.33.4+k3s1", n.Version)
	case len(n.Labels) == 0:
		return bad("Labels: at least the role label is required")
	case n.Token == "" || strings.ContainsAny(n.Token, "\n\r"):
		return bad("Token is required and is one line")
	}
	for k, v := range n.Labels {
		if !labelKey.MatchString(k) || len(k) > 253 || !labelValue.MatchString(v) || len(v) > 63 {
			return bad("Labels: %s=%s is not a Kubernetes label", k, v)
		}
	}
	for _, t := range n.Taints {
		if !taint.MatchString(t) {
			return bad("Taints: %q: want key=value:NoSchedule|PreferNoSchedule|NoExecute", t)
		}
	}
	for _, f := range []struct {
		key    string
		values []string
	}{
		{"ServerURL", []string{n.ServerURL}}, {"AdvertiseAddress", []string{n.AdvertiseAddress}},
		{"ExternalIP", []string{n.ExternalIP}}, {"TLSSANs", n.TLSSANs}, {"Taints", n.Taints},
	} {
		for _, s := range f.values {
			if !plain.MatchString(s) {
				return bad("%s: %q has characters the boot script does not accept", f.key, s)
			}
		}
	}
	if n.Mode == ModeServer {
		switch {
		case n.AgentToken == "" || strings.ContainsAny(n.AgentToken, "\n\r"):
			return bad("AgentToken is required on the server and is one line")
		case n.AgentToken == n.Token:
			return bad("AgentToken must differ from the server Token")
		case n.ServerCA.CertPEM == "" || n.ServerCA.KeyPEM == "" || n.ClientCA.CertPEM == "" || n.ClientCA.KeyPEM == "":
			return bad("ServerCA and ClientCA (certificate and key) are required on the server")
		}
		return nil
	}
	if !strings.HasPrefix(n.ServerURL, "https://") {
		return bad("ServerURL %q: want https://host:port", n.ServerURL)
	}
	return nil
}

// File is one entry of cloud-config's write_files: Content (base64 when Encoding is
// "b64") written at Path with Owner and octal Permissions.
type File struct {
	Path        string `yaml:"path"`
	Owner       string `yaml:"owner"`
	Permissions string `yaml:"permissions"`
	Encoding    string `yaml:"encoding,omitempty"`
	Content     string `yaml:"content"`
}

// Config is the part of cloud-config the nodes use.
type Config struct {
	// Packages installed before runcmd (curl fetches the k3s installer).
	Packages   []string   `yaml:"packages,omitempty"`
	WriteFiles []File     `yaml:"write_files"`
	RunCmd     [][]string `yaml:"runcmd"`
}

// Build returns the cloud-config of the node.
func (n *Node) Build() (*Config, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	c := &Config{
		Packages: []string{"curl", "ca-certificates"},
		WriteFiles: []File{
			{Path: ScriptPath, Owner: "root:root", Permissions: "0755", Content: BootstrapScript},
			{Path: EnvPath, Owner: "root:root", Permissions: "0644", Content: n.Env()},
			secretFile(TokenPath, n.Token+"\n"),
		},
		RunCmd: [][]string{{ScriptPath}},
	}
	if n.Mode == ModeServer {
		c.WriteFiles = append(c.WriteFiles,
			secretFile(AgentTokenPath, n.AgentToken+"\n"),
			// Certificates are written as base64 so that their bytes, which the join
			// token's CA hash covers, arrive exactly as given.
			File{Path: TLSDir + "/server-ca.crt", Owner: "root:root", Permissions: "0644", Encoding: "b64", Content: b64(n.ServerCA.CertPEM)},
			secretFile(TLSDir+"/server-ca.key", n.ServerCA.KeyPEM),
			File{Path: TLSDir + "/client-ca.crt", Owner: "root:root", Permissions: "0644", Encoding: "b64", Content: b64(n.ClientCA.CertPEM)},
			secretFile(TLSDir+"/client-ca.key", n.ClientCA.KeyPEM),
		)
	}
	return c, nil
}

// Render returns the node's user data: a cloud-config document. It holds the node's
// secrets (tokens, CA keys), so callers must keep it secret.
func (n *Node) Render() (string, error) {
	c, err := n.Build()
	if err != nil {
		return "", err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("cloud-config of %s: %w", n.Name, err)
	}
	return Header + string(b), nil
}

// Env returns the boot script's env file: settings only, no secret.
func (n *Node) Env() string {
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "%s='%s'\n", k, v) }
	set("K3S_MODE", n.Mode)
	set("K3S_VERSION", n.Version)
	set("K3S_NODE_NAME", n.Name)
	set("K3S_TOKEN_FILE", TokenPath)
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	labels := make([]string, 0, len(keys))
	for _, k := range keys {
		labels = append(labels, k+"="+n.Labels[k])
	}
	set("K3S_LABELS", strings.Join(labels, " "))
	set("K3S_TAINTS", strings.Join(n.Taints, " "))
	if n.Mode == ModeServer {
		set("K3S_AGENT_TOKEN_FILE", AgentTokenPath)
		set("K3S_TLS_SANS", strings.Join(n.TLSSANs, " "))
		set("K3S_ADVERTISE_ADDRESS", n.AdvertiseAddress)
		set("K3S_EXTERNAL_IP", n.ExternalIP)
	} else {
		set("K3S_SERVER_URL", n.ServerURL)
	}
	return b.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func secretFile(path, content string) File {
	return File{Path: path, Owner: "root:root", Permissions: "0600", Content: content}
}

// CAHash is the hash k3s puts in a full join token for a single-certificate CA bundle:
// the SHA-256 of the PEM file's exact bytes, in hex. Agents compare it with the CA
// the server presents before they send their token.
func CAHash(caPEM string) string {
	sum := sha256.Sum256([]byte(caPEM))
	return hex.EncodeToString(sum[:])
}

// JoinToken returns the full k3s agent join token, K10<CA hash>::node:<agent token>:
// an agent holding it checks the server's CA and can join only as an agent.
func JoinToken(serverCAPEM, agentToken string) string {
	return "K10" + CAHash(serverCAPEM) + "::node:" + agentToken
}

// JoinCommand returns the shell command that joins a machine outside the cloud (an
// edge gateway such as a Raspberry Pi 4) to the cluster as a k3s agent with the given
// labels and taints. It holds the join token: keep it secret.
func JoinCommand(serverURL, version, token string, labels map[string]string, taints []string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var flags []string
	for _, k := range keys {
		flags = append(flags, "--node-label", shellQuote(k+"="+labels[k]))
	}
	for _, t := range taints {
		flags = append(flags, "--node-taint", shellQuote(t))
	}
	return fmt.Sprintf("curl -fsSL %s | INSTALL_K3S_VERSION=%s K3S_URL=%s K3S_TOKEN=%s sh -s - agent %s",
		shellQuote(InstallerURL(version)), shellQuote(version), shellQuote(serverURL), shellQuote(token), strings.Join(flags, " "))
}

// InstallerURL is the k3s installer of the given release.
func InstallerURL(version string) string {
	return "https://raw.githubusercontent.com/k3s-io/k3s/" + strings.ReplaceAll(version, "+", "%2B") + "/install.sh"
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
