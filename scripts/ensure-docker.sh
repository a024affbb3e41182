#!/usr/bin/env bash
# Make a Docker engine available for the docker backend and its tests (part of `make test`).
# Where one already answers, nothing happens. As root on Debian/Ubuntu it installs Debian's
# `docker.io` (engine), `debootstrap` (base image) and `docker-compose` (to validate compose/) and
# starts the daemon. Anywhere else it says
# what to do and exits 0: the docker tests then skip, and the local backend needs no Docker.
set -euo pipefail

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null && answers && command -v debootstrap >/dev/null && command -v docker-compose >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-docker: no Docker engine answers and this is not root on Debian/Ubuntu;" >&2
  echo "  install docker.io and debootstrap and start dockerd to run the docker tests (they skip now)." >&2
  exit 0
fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v docker-compose >/dev/null; then
  echo "ensure-docker: installing docker.io, debootstrap and docker-compose"
  export DEBIAN_FRONTEND=noninteractive
  packages="docker.io debootstrap docker-compose"
  apt-get install -y -q $packages >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $packages >/dev/null; }
fi
if ! answers; then
  echo "ensure-docker: starting dockerd"
  if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
    :
  else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do answers && break; sleep 0.5; done
fi
if answers; then
  echo "ensure-docker: $(docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}')"
else
  echo "ensure-docker: dockerd did not answer within 30 s; see /var/log/dockerd.log (the docker tests will skip)" >&2
fi
