#!/usr/bin/env bash
# Shutdown script of a GPU worker instance: SIGTERM lets each worker drain (running jobs finish, nothing new
# is taken, unfinished ones go back to the queue at once) before the instance goes away. GCP allows about
# 90 s for shutdown scripts (30 s on Spot VMs: set DRAIN_GRACE_MS below that there).
set -euo pipefail
docker ps --filter name=gpufleet-worker- --format '{{.Names}}' | xargs -r docker stop -t 45
