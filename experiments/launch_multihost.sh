#!/usr/bin/env bash
# Launch one jaxmlp training run as N processes on this machine, joined by jax.distributed
# (gloo collectives on CPU), each process with D forced CPU devices: N x D devices in one mesh.
#
#   experiments/launch_multihost.sh [N processes, default 2] [D devices each, default 2] [extra jaxmlp train args...]
#
# On real hosts run the same jaxmlp command on each host, with the coordinator's address,
# the number of processes and each host's own --process-id (or JAXMLP_COORDINATOR,
# JAXMLP_NUM_PROCESSES, JAXMLP_PROCESS_ID in the environment).
set -euo pipefail
n=${1:-2}
d=${2:-2}
shift $(( $# > 2 ? 2 : $# ))
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
for ((i = 0; i < n; i++)); do
    XLA_FLAGS="--xla_force_host_platform_device_count=$d" \
        jaxmlp train digits --devices $((n * d)) --batch-size $((32 * n * d)) --steps 200 \
        --coordinator "127.0.0.1:$port" --num-processes "$n" --process-id "$i" --json "$@" \
        > "multihost_$i.json" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
cat multihost_0.json
