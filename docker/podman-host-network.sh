#!/usr/bin/env bash
# podman, as Debian 12's podman-compose 1.0.3 should call it for docker/compose.yaml. That
# version adds `--net PROJECT_default --network-alias SERVICE` even to a service with
# `network_mode: host`, and podman refuses the pair ("cannot set multiple networks without bridge
# network mode"); later podman-compose releases and `docker compose` do not. For `run` and
# `create` with `--network host` this drops those two options; everything else passes unchanged.
#   podman-compose --podman-path docker/podman-host-network.sh -f docker/compose.yaml up -d
set -euo pipefail
args=("$@")
host_network=no
if [ "${1:-}" = run ] || [ "${1:-}" = create ]; then
  for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    if [ "${args[i]}" = --network ] && [ "${args[i + 1]}" = host ]; then host_network=yes; fi
  done
fi
if [ "$host_network" = yes ]; then
  kept=()
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      --net | --network-alias) i=$((i + 1)) ;;
      *) kept+=("${args[i]}") ;;
    esac
  done
  args=("${kept[@]}")
fi
exec podman "${args[@]}"
