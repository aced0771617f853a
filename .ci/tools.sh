#!/usr/bin/env bash
# Installs the tools the tests, the demo and the benchmark need, each built once per
# version into a cache outside the clone, so a warm run only checks that they exist.
#
#   .ci/tools.sh all|staticcheck|influxd|ferretdb|mosquitto   prints nothing when warm
#
# TOOLS_DIR (default $XDG_CACHE_HOME/smartx-overcloud/tools) holds one folder per
# tool and version; bin/ inside it has a link to each binary.
set -euo pipefail

STATICCHECK_VERSION=2026.1
STATICCHECK_MODULE_VERSION=v0.7.0
INFLUXDB_VERSION=v1.8.10
FERRETDB_VERSION=v1.24.0

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

case ${1:-all} in
all) staticcheck; influxd; ferretdb; mosquitto ;;
staticcheck | influxd | ferretdb | mosquitto) "$1" ;;
*) echo "usage: $0 [all|staticcheck|influxd|ferretdb|mosquitto]" >&2; exit 2 ;;
esac
