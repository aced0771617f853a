#!/usr/bin/env bash
# Installs the tools the tests, the demo and the benchmark need, each built once per
# version into a cache outside the clone, so a warm run only checks that they exist.
#
#   .ci/tools.sh all|staticcheck|influxd|ferretdb|mosquitto|crosscc|qemu|sshd|shellcheck|etcd|kubernetes|kwok|ko|crane|postgres|edgex|chromium|telegraf
#   prints nothing when warm
#
# TOOLS_DIR (default $XDG_CACHE_HOME/smartx-overcloud/tools) holds one folder per
# tool and version; bin/ inside it has a link to each binary.
set -euo pipefail

STATICCHECK_VERSION=2026.1
STATICCHECK_MODULE_VERSION=v0.7.0
INFLUXDB_VERSION=v1.8.10
FERRETDB_VERSION=v1.24.0
ETCD_VERSION=v3.6.16
KUBERNETES_VERSION=v1.35.4
KWOK_VERSION=v0.8.0
KO_VERSION=v0.19.1
GGCR_VERSION=v0.22.1
EDGEX_VERSION=v4.0.2
TELEGRAF_VERSION=v1.34.0

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/smartx-overcloud
TOOLS_DIR=${TOOLS_DIR:-$cache_root/tools}
mkdir -p "$TOOLS_DIR/bin"

# Long builds get their own Go caches so they survive `go clean -cache` of the project.
export GOMODCACHE=${TOOLS_GOMODCACHE:-$cache_root/gomod}
export GOCACHE=${TOOLS_GOCACHE:-$cache_root/gobuild}
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log() { printf '[tools] %s\n' "$*" >&2; }

# link NAME PATH points bin/NAME at a built binary.
link() { ln -sfn "$2" "$TOOLS_DIR/bin/$1"; }

# timed NAME CMD... runs a build step and says how long it took.
timed() {
	local name=$1 start=$SECONDS
	shift
	log "building $name (first run only)"
	"$@"
	log "built $name in $((SECONDS - start)) s"
}

staticcheck() {
	local dir=$TOOLS_DIR/staticcheck-$STATICCHECK_VERSION
	if [ ! -x "$dir/staticcheck" ]; then
		timed "staticcheck $STATICCHECK_VERSION" \
			env GOBIN="$dir" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_MODULE_VERSION"
	fi
	link staticcheck "$dir/staticcheck"
}

influxd() {
	local dir=$TOOLS_DIR/influxdb-$INFLUXDB_VERSION
	if [ ! -x "$dir/influxd" ]; then
		timed "influxd $INFLUXDB_VERSION" \
			env GOBIN="$dir" go install "github.com/influxdata/influxdb/cmd/influxd@$INFLUXDB_VERSION"
	fi
	link influxd "$dir/influxd"
}

# FerretDB panics at start unless build/version/version.txt names a version, and the
# module as published leaves it empty: build from a copy of the module with it filled in.
ferretdb() {
	local dir=$TOOLS_DIR/ferretdb-$FERRETDB_VERSION
	if [ ! -x "$dir/ferretdb" ]; then
		build_ferretdb() {
			local src
			src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
			[ -n "$src" ] || { log "cannot download FerretDB $FERRETDB_VERSION"; return 1; }
			rm -rf "$dir/src" && mkdir -p "$dir" && cp -r "$src" "$dir/src" && chmod -R u+w "$dir/src"
			printf '%s\n' "$FERRETDB_VERSION" >"$dir/src/build/version/version.txt"
			(cd "$dir/src" && go build -trimpath -o "$dir/ferretdb" ./cmd/ferretdb)
			rm -rf "$dir/src"
		}
		timed "ferretdb $FERRETDB_VERSION" build_ferretdb
	fi
	link ferretdb "$dir/ferretdb"
}

# mosquitto comes from Debian; its package may start a broker on 1883, which we do not
# use (tests start their own on a free port), so only the binary matters here.
mosquitto() {
	local bin
	bin=$(type -P mosquitto || true)
	[ -n "$bin" ] || bin=/usr/sbin/mosquitto
	if [ ! -x "$bin" ]; then
		local sudo=
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		log "installing mosquitto from Debian"
		$sudo apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mosquitto >&2
	fi
	link mosquitto "$bin"
}

# apt_install PKG... installs Debian packages that are missing, quietly. Package
# scripts must not start services (sshd on port 22): a policy-rc.d that refuses them is
# put in place for the install when the machine has none.
apt_install() {
	local missing=() p sudo= policy=/usr/sbin/policy-rc.d own_policy=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing ${missing[*]} from Debian"
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod 755 "$policy"
		own_policy=1
	fi
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
		[ -z "$own_policy" ] || $sudo rm -f "$policy"
		return 1
	}
	[ -z "$own_policy" ] || $sudo rm -f "$policy"
}

# Cross C compilers for the firmware's cgo builds (DHT22 through go-dht): arm64 for
# Pi 3/4/5, armhf for Pi 2/3 (ARMv7) and armel for Pi Zero/1 (ARMv6; the armhf compiler
# emits ARMv7 code that crashes there).
crosscc() {
	apt_install gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-arm-linux-gnueabi \
		libc6-dev-arm64-cross libc6-dev-armhf-cross libc6-dev-armel-cross
	link aarch64-linux-gnu-gcc "$(type -P aarch64-linux-gnu-gcc)"
	link arm-linux-gnueabihf-gcc "$(type -P arm-linux-gnueabihf-gcc)"
	link arm-linux-gnueabi-gcc "$(type -P arm-linux-gnueabi-gcc)"
}

# qemu user-mode emulators run the arm firmware binaries in the smoke tests.
qemu() {
	apt_install qemu-user-static
	link qemu-arm-static "$(type -P qemu-arm-static)"
	link qemu-aarch64-static "$(type -P qemu-aarch64-static)"
}

# sshd stands in for a Pi in the `make flash` test; the test runs its own on a free
# port, the package's service is never started (see apt_install).
sshd() {
	apt_install openssh-server openssh-client
	link sshd /usr/sbin/sshd
	link ssh "$(type -P ssh)"
}

# shellcheck lints the boot scripts infra/overcloud/cloudinit renders into the VMs' user data.
shellcheck() {
	apt_install shellcheck
	link shellcheck "$(type -P shellcheck)"
}

# etcd for the Kubernetes conformance test (components/): Debian's 3.4 makes kwok's
# watches lag, so build the server from its module through a small wrapper module.
etcd() {
	local dir=$TOOLS_DIR/etcd-$ETCD_VERSION
	if [ ! -x "$dir/etcd" ]; then
		build_etcd() {
			rm -rf "$dir/src" && mkdir -p "$dir/src"
			printf 'module smartx.local/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/src/go.mod"
			printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/src/tools.go"
			(cd "$dir/src" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$dir/etcd" go.etcd.io/etcd/server/v3)
			rm -rf "$dir/src"
		}
		timed "etcd $ETCD_VERSION" build_etcd
	fi
	link etcd "$dir/etcd"
}

# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl for the conformance
# test. k8s.io/kubernetes only builds as a dependency when each of its staging modules
# is replaced by the published version, so the wrapper module takes the list from
# kubernetes' own go.mod.
kubernetes() {
	local dir=$TOOLS_DIR/kubernetes-$KUBERNETES_VERSION cmds="kube-apiserver kube-controller-manager kube-scheduler kubectl" c missing=
	for c in $cmds; do [ -x "$dir/$c" ] || missing=1; done
	if [ -n "$missing" ]; then
		build_kubernetes() {
			local gomod staging=v0${KUBERNETES_VERSION#v1} minor
			minor=${KUBERNETES_VERSION#v1.}
			minor=${minor%%.*}
			gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
			[ -n "$gomod" ] || { log "cannot download kubernetes $KUBERNETES_VERSION"; return 1; }
			rm -rf "$dir/src" && mkdir -p "$dir/src"
			{
				printf 'module smartx.local/kubernetes\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
				sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\t\1 => \1 '"$staging"'|p' "$gomod"
				printf ')\n'
			} >"$dir/src/go.mod"
			{
				printf 'package tools\n\nimport (\n'
				for c in $cmds; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
				printf ')\n'
			} >"$dir/src/tools.go"
			(cd "$dir/src" && go mod tidy >&2 &&
				go build -trimpath -o "$dir/" -ldflags "-s -w \
					-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
					-X k8s.io/component-base/version.gitMajor=1 \
					-X k8s.io/component-base/version.gitMinor=$minor \
					-X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION" \
					$(for c in $cmds; do printf 'k8s.io/kubernetes/cmd/%s ' "$c"; done))
			rm -rf "$dir/src"
		}
		timed "kubernetes $KUBERNETES_VERSION" build_kubernetes
	fi
	for c in $cmds; do link "$c" "$dir/$c"; done
}

# kwok simulates nodes and pods for the conformance test. Its stages (what a fake
# kubelet and volume provisioner do) ship as YAML in its module: fast node and pod
# life cycles, leased heartbeats, and PVC binding through the kwok-volume StorageClass
# (kwok-storageclass.yaml, applied to the cluster by the test).
kwok() {
	local dir=$TOOLS_DIR/kwok-$KWOK_VERSION
	if [ ! -x "$dir/kwok" ] || [ ! -s "$dir/kwok-stages.yaml" ]; then
		build_kwok() {
			local src f
			mkdir -p "$dir"
			GOBIN="$dir" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
			src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/kustomize/stage
			for f in "$src"/node/fast/*.yaml "$src"/node/heartbeat-with-lease/*.yaml "$src"/pod/fast/*.yaml "$src"/volume/fast/*.yaml; do
				case $f in */kustomization.yaml) continue ;; */storage-class.yaml) cp "$f" "$dir/kwok-storageclass.yaml"; continue ;; esac
				printf -- '---\n'
				cat "$f"
			done >"$dir/kwok-stages.yaml"
		}
		timed "kwok $KWOK_VERSION" build_kwok
	fi
	link kwok "$dir/kwok"
	link kwok-stages.yaml "$dir/kwok-stages.yaml"
	link kwok-storageclass.yaml "$dir/kwok-storageclass.yaml"
}

# ko builds our function images without a Docker engine; crane makes their base image
# and serves the in-memory registry the image test pushes to (crane registry serve).
ko() {
	local dir=$TOOLS_DIR/ko-$KO_VERSION
	if [ ! -x "$dir/ko" ]; then
		timed "ko $KO_VERSION" env GOBIN="$dir" go install "github.com/google/ko@$KO_VERSION"
	fi
	link ko "$dir/ko"
}

crane() {
	local dir=$TOOLS_DIR/ggcr-$GGCR_VERSION
	if [ ! -x "$dir/crane" ]; then
		timed "crane $GGCR_VERSION" env GOBIN="$dir" go install "github.com/google/go-containerregistry/cmd/crane@$GGCR_VERSION"
	fi
	link crane "$dir/crane"
}

# PostgreSQL 15 is EdgeX 4's database; the tests make their own cluster with initdb on
# a free port, so the package's own cluster and service are never started.
postgres() {
	apt_install postgresql-15
	link initdb /usr/lib/postgresql/15/bin/initdb
	link postgres /usr/lib/postgresql/15/bin/postgres
}

# EdgeX Foundry's core services (core-metadata, core-data, core-command), for the tests
# that run our firmware and hub bridge against the real thing. The Go module proxy
# refuses edgex-go, so the source comes, in this order, from $EDGEX_SOURCE (a tarball
# of the tag), from ../shared/third_party/edgex-go-4.0.2.tar.gz beside the clone (our
# own machines keep a copy there), or from a clone of the tag on GitHub. Without any of
# them it says so and fails; the EdgeX tests then fail with the same hint. The source
# stays in the cache: each service reads its res/ folder from cmd/<service>.
edgex() {
	local dir=$TOOLS_DIR/edgex-$EDGEX_VERSION svc missing=
	for svc in core-metadata core-data core-command; do [ -x "$dir/src/cmd/$svc/$svc" ] || missing=1; done
	if [ -n "$missing" ]; then
		build_edgex() {
			local here tarball=${EDGEX_SOURCE:-}
			here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
			[ -n "$tarball" ] || [ ! -f "$here/../shared/third_party/edgex-go-${EDGEX_VERSION#v}.tar.gz" ] ||
				tarball=$here/../shared/third_party/edgex-go-${EDGEX_VERSION#v}.tar.gz
			rm -rf "$dir/src" && mkdir -p "$dir/src"
			if [ -n "$tarball" ]; then
				log "edgex source: $tarball"
				tar -xzf "$tarball" -C "$dir/src" --strip-components=1
			elif command -v git >/dev/null && git clone -q --depth 1 --branch "$EDGEX_VERSION" https://github.com/edgexfoundry/edgex-go "$dir/src" 2>/dev/null; then
				log "edgex source: a clone of edgex-go $EDGEX_VERSION"
			else
				log "no EdgeX source: set EDGEX_SOURCE to a tarball of the edgex-go $EDGEX_VERSION tag, or let this machine reach github.com to clone it"
				rm -rf "$dir/src"
				return 1
			fi
			# The tarball carries vendor/; a clone of the tag does not, and takes its
			# dependencies from the module proxy.
			local mod=vendor
			[ -d "$dir/src/vendor" ] || mod=mod
			for svc in core-metadata core-data core-command; do
				# The services refuse to start without their version (their database
				# tables are keyed by it), which EdgeX's Makefile sets like this.
				(cd "$dir/src" && GOFLAGS= go build -mod=$mod -trimpath -tags "non_delayedstart no_openziti" \
					-ldflags "-s -w -X github.com/edgexfoundry/edgex-go.Version=${EDGEX_VERSION#v}" -o "cmd/$svc/$svc" "./cmd/$svc")
			done
		}
		timed "edgex $EDGEX_VERSION core services" build_edgex
	fi
	link edgex-src "$dir/src"
}

# Chromium from Debian, for the dashboard's browser test (driven by chromedp). The
# test starts it headless with a fresh profile and no background networking.
chromium() {
	apt_install chromium fonts-dejavu-core
	link chromium "$(type -P chromium)"
}

# Telegraf is the peer the benchmark compares our sender with on the Kafka -> InfluxDB
# leg: a custom build with only the plugins that leg needs (kafka_consumer, json_v2,
# pivot, influxdb_v2), which is what an operator would otherwise run.
telegraf() {
	local dir=$TOOLS_DIR/telegraf-$TELEGRAF_VERSION
	if [ ! -x "$dir/telegraf" ]; then
		timed "telegraf $TELEGRAF_VERSION" \
			env GOBIN="$dir" go install \
			-tags "custom,inputs.kafka_consumer,outputs.influxdb_v2,parsers.json_v2,parsers.influx,serializers.influx,processors.pivot" \
			"github.com/influxdata/telegraf/cmd/telegraf@$TELEGRAF_VERSION"
	fi
	link telegraf "$dir/telegraf"
}

case ${1:-all} in
all) staticcheck; influxd; ferretdb; mosquitto; crosscc; qemu; sshd; shellcheck; etcd; kubernetes; kwok; ko; crane; postgres; edgex; chromium; telegraf ;;
staticcheck | influxd | ferretdb | mosquitto | crosscc | qemu | sshd | shellcheck | etcd | kubernetes | kwok | ko | crane | postgres | edgex | chromium | telegraf) "$1" ;;
*) echo "usage: $0 [all|staticcheck|influxd|ferretdb|mosquitto|crosscc|qemu|sshd|shellcheck|etcd|kubernetes|kwok|ko|crane|postgres|edgex|chromium|telegraf]" >&2; exit 2 ;;
esac
