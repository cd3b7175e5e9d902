#!/bin/bash
# TSDF-Def preparation on a Ray cluster of two nodes, joined by address (issue 17).
#
# Starts a head node (1 CPU) and a second node (1 CPU, its own raylet) on this machine, prepares
# SUBSET (default collections:8) into an empty cache through `--ray-address HOST:PORT`, and counts,
# once a second, which raylet the running prepare tasks belong to: both must appear. Needs the
# extra `nc3d[ray]`. Usage: bash benchmarks/ray_two_nodes.sh [SUBSET]
set -euo pipefail
cd "$(dirname "$0")/.."
export RAY_AUTH_MODE=disabled PATH="$PWD/.venv/bin:$PATH"
subset=${1:-collections:8}
scratch=$(mktemp -d)
trap 'ray stop --force >/dev/null 2>&1; rm -rf "$scratch"' EXIT
ray stop --force >/dev/null 2>&1 || true
ray start --head --port=6390 --num-cpus=1 --include-dashboard=false --disable-usage-stats >"$scratch/head.log"
ray start --address=127.0.0.1:6390 --num-cpus=1 --disable-usage-stats >"$scratch/node.log"
python -c "import ray; ray.init(address='127.0.0.1:6390'); print('nodes', sum(n['Alive'] for n in ray.nodes()), 'CPUs', ray.cluster_resources().get('CPU'))"
(while true; do for p in $(pgrep -f "ray::prepare_task" || true); do ps -o ppid= -p "$p" || true; done; sleep 1; done) >"$scratch/parents" 2>/dev/null &
watcher=$!
python -m benchmarks.shapeset_collection prepare --subset "$subset" --ray-address 127.0.0.1:6390 \
    --cache-dir "$scratch/tsdf-def" | tail -n 1
kill "$watcher"
echo "raylets: $(pgrep -x raylet | tr '\n' ' ')"
echo "seconds of running prepare tasks per parent raylet:"
sort "$scratch/parents" | uniq -c
echo "volumes cached: $(ls "$scratch/tsdf-def" | wc -l)"
