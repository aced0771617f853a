#!/usr/bin/env bash
# Builds the image of every function for linux/amd64 and linux/arm64 without a Docker
# engine and pushes it to a registry; prints one "name ref@sha256:digest" line each.
#
#   stacks/images/images.sh REGISTRY      for example 127.0.0.1:5000/smartx or ghcr.io/you/smartx
#
# The base image is made here, not pulled: a scratch image holding only a non-root user
# (65532) and the CA certificates (the sender calls HTTPS weather APIs), built with
# crane for both platforms. ko then adds each function's static binary. Builds are
# reproducible: the same source gives the same digest. Pushing needs credentials in
# ~/.docker/config.json for remote registries; 127.0.0.1 and localhost are plain HTTP.
set -euo pipefail

registry=${1:?usage: stacks/images/images.sh REGISTRY}
bin=${SMARTX_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/smartx-overcloud/tools/bin}
functions=(hubbridge sender inference trainer controller dashboard)
platforms=(amd64 arm64)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
chmod 1777 "$root/tmp"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/base.tar" .

base=$registry/smartx-base
manifests=()
for arch in "${platforms[@]}"; do
	"$bin/crane" append --oci-empty-base -f "$work/base.tar" -t "$base:$arch" >/dev/null
	ref=$("$bin/crane" mutate --set-platform "linux/$arch" --user 65532:65532 "$base:$arch" -t "$base:$arch")
	manifests+=(-m "$ref")
done
"$bin/crane" index append "${manifests[@]}" -t "$base:latest" >/dev/null

cd "$(dirname "$0")/../.."
pkgs=()
for f in "${functions[@]}"; do pkgs+=("./functions/$f"); done
platform_list=$(printf 'linux/%s,' "${platforms[@]}")
refs=$(KO_DOCKER_REPO=$registry KO_DEFAULTBASEIMAGE=$base:latest GOFLAGS=-mod=mod \
	"$bin/ko" build --base-import-paths --sbom=none --platform="${platform_list%,}" "${pkgs[@]}")
for f in "${functions[@]}"; do
	ref=$(grep -E "/$f@sha256:[0-9a-f]{64}\$" <<<"$refs") || { echo "no image reference for $f in ko's output" >&2; exit 1; }
	printf '%s %s\n' "$f" "$ref"
done
