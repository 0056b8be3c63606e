#!/usr/bin/env bash
# Builds the runner simulator's job image (actions-runner-job:local) from a staged context:
# this folder's Dockerfile plus runner-sim/container/main.mjs, which lives outside it.
#   docker/images/runner-job/build.sh [--stage-only DIR] [extra docker build args…]
# --stage-only DIR: write the context to DIR and stop (for a caller that builds it itself,
# with --build-arg MAIN_SHA256=$(cat DIR/MAIN_SHA256)). Never pulls: the base image
# (BASE_IMAGE, default debian:bookworm-slim) must be present locally.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
tag="$(sed -n '1s/^# tag: *//p' "$here/Dockerfile")"

stage() {
  cp "$here/Dockerfile" "$root/runner-sim/container/main.mjs" "$1/"
  sha256sum "$1/main.mjs" | cut -d' ' -f1 >"$1/MAIN_SHA256"
}

if [[ "${1:-}" == "--stage-only" ]]; then
  [[ -n "${2:-}" ]] || { echo "usage: $0 --stage-only DIR" >&2; exit 2; }
  mkdir -p "$2" && stage "$2"
  exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
stage "$ctx"
# Debian's 20.10 client: its classic builder never pulls a present base image and takes
# --network=host (the registries are reached through the host's network only).
docker=/usr/bin/docker
[[ -x "$docker" ]] || docker=docker
# A daemon started with --dns 127.0.0.1 (so containers cannot look names up) gives build
# containers that resolver even with --network=host: apt's mirror is resolved here instead.
hosts=()
for h in ${APT_HOSTS:-deb.debian.org}; do
  ip="$(getent ahostsv4 "$h" | awk 'NR==1{print $1}')" || true
  [[ -n "$ip" ]] && hosts+=(--add-host "$h:$ip")
done
"$docker" build --network=host "${hosts[@]}" --build-arg "MAIN_SHA256=$(cat "$ctx/MAIN_SHA256")" -t "$tag" "$@" "$ctx"
