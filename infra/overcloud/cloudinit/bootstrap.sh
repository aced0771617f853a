#!/bin/bash
# smartx-k3s-bootstrap: turns this VM into a k3s node of the OverCloud.
#
# Reads its settings from /etc/smartx/k3s.env (written by cloud-init), renders the
# k3s config file /etc/rancher/k3s/config.yaml from them, then installs k3s at the
# pinned version with the installer of that same release, which starts the server or
# agent service. Secrets (the join tokens) are never in the env file or the config
# file: k3s reads them from the root-only files the config points at.
#
#   smartx-k3s-bootstrap                 render the config and install k3s
#   smartx-k3s-bootstrap --render-only   render the config and stop
#
# SMARTX_ROOT (default empty) prefixes every path this script writes or reads, so the
# rendering can run as an ordinary user against a scratch directory.
set -euo pipefail

root=${SMARTX_ROOT:-}
env_file=$root/etc/smartx/k3s.env
config=$root/etc/rancher/k3s/config.yaml

fail() {
	printf 'smartx-k3s-bootstrap: %s\n' "$*" >&2
	exit 1
}

[ -r "$env_file" ] || fail "cannot read $env_file"
# shellcheck source=/dev/null
. "$env_file"

for v in K3S_MODE K3S_VERSION K3S_NODE_NAME K3S_LABELS K3S_TOKEN_FILE; do
	[ -n "${!v:-}" ] || fail "$v is not set in $env_file"
done
case $K3S_MODE in
server) [ -n "${K3S_AGENT_TOKEN_FILE:-}" ] || fail "K3S_AGENT_TOKEN_FILE is not set in $env_file" ;;
agent) [ -n "${K3S_SERVER_URL:-}" ] || fail "K3S_SERVER_URL is not set in $env_file" ;;
*) fail "K3S_MODE must be server or agent, not $K3S_MODE" ;;
esac

# list KEY WORDS prints a YAML list of the space-separated WORDS under KEY (nothing
# when WORDS is empty).
list() {
	local key=$1 item
	shift
	[ $# -gt 0 ] || return 0
	printf '%s:\n' "$key"
	for item in "$@"; do printf '  - "%s"\n' "$item"; done
}

render() {
	printf '# Rendered by smartx-k3s-bootstrap from %s; do not edit.\n' /etc/smartx/k3s.env
	printf 'node-name: "%s"\n' "$K3S_NODE_NAME"
	printf 'token-file: "%s"\n' "$K3S_TOKEN_FILE"
	# shellcheck disable=SC2086 # the lists are space-separated words on purpose
	list node-label $K3S_LABELS
	# shellcheck disable=SC2086
	list node-taint ${K3S_TAINTS:-}
	if [ "$K3S_MODE" = server ]; then
		printf 'agent-token-file: "%s"\n' "$K3S_AGENT_TOKEN_FILE"
		printf 'write-kubeconfig-mode: "0600"\n'
		printf 'secrets-encryption: true\n'
		# shellcheck disable=SC2086
		list tls-san ${K3S_TLS_SANS:-}
		[ -z "${K3S_ADVERTISE_ADDRESS:-}" ] || printf 'advertise-address: "%s"\n' "$K3S_ADVERTISE_ADDRESS"
		[ -z "${K3S_EXTERNAL_IP:-}" ] || printf 'node-external-ip: "%s"\n' "$K3S_EXTERNAL_IP"
	else
		printf 'server: "%s"\n' "$K3S_SERVER_URL"
	fi
}

mkdir -p "$(dirname "$config")"
(umask 077 && render >"$config.tmp")
mv "$config.tmp" "$config"

[ "${1:-}" != --render-only ] || exit 0

# The installer of the pinned release (the tag's '+' is %2B in the URL); it downloads
# the k3s binary of K3S_VERSION and checks it against the release's sha256 sums.
installer=$(mktemp)
trap 'rm -f "$installer"' EXIT
curl -fsSL --retry 20 --retry-delay 5 --retry-all-errors -o "$installer" \
	"https://raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION//+/%2B}/install.sh"
INSTALL_K3S_VERSION=$K3S_VERSION INSTALL_K3S_EXEC=$K3S_MODE sh "$installer"
