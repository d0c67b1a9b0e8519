#!/usr/bin/env bash
# Startup script of a GPU worker instance on GCP (deploy/gcp/create-gpu-workers.sh sets it as metadata):
# mounts the fleet's shared storage (Filestore over NFS), then runs one gpufleet worker container per GPU,
# each pinned to its GPU, joining the broker named in the instance metadata. Runs on a Deep Learning VM image
# (NVIDIA driver, Docker and the NVIDIA container toolkit preinstalled).
set -euo pipefail

metadata() {
  curl -fsS -H "Metadata-Flavor: Google" \
    "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"
}

broker_url=$(metadata gpufleet-broker-url)     # e.g. tcp://10.0.0.5:5555
filestore=$(metadata gpufleet-filestore)       # e.g. 10.0.0.9:/fleet
image=$(metadata gpufleet-worker-image)        # e.g. europe-docker.pkg.dev/PROJECT/gpufleet/worker-cuda:1.0
models=$(metadata gpufleet-models-json || true)
broker_key=$(metadata gpufleet-broker-public-key || true)   # CurveZMQ (docs/deploy.md)
worker_key=$(metadata gpufleet-worker-secret-key || true)

mkdir -p /srv/gpufleet
if ! mountpoint -q /srv/gpufleet; then
  mount -t nfs -o rw,hard,timeo=600,retrans=3,nconnect=4 "$filestore" /srv/gpufleet
fi
mkdir -p /etc/gpufleet
if [ -n "$models" ]; then
  printf '%s\n' "$models" >/etc/gpufleet/models.json
fi

gpus=$(nvidia-smi --list-gpus | wc -l)
if [ "$gpus" -eq 0 ]; then
  echo "gpufleet: no GPU found; not starting workers" >&2
  exit 1
fi
docker pull "$image"
for ((i = 0; i < gpus; i++)); do
  name="gpufleet-worker-$i"
  docker rm -f "$name" >/dev/null 2>&1 || true
  args=(--name "$name" --restart always --gpus "device=$i" --network host --stop-timeout 45
    -e BROKER_URL="$broker_url" -e DEVICE=cuda:0 -e WORKER_ID="$(hostname)-gpu$i"
    -e STORAGE_ROOT=/data -e METRICS_HOST=0.0.0.0 -e WORKER_METRICS_PORT=$((9102 + i))
    -v /srv/gpufleet:/data)
  if [ -n "$broker_key" ] && [ -n "$worker_key" ]; then
    args+=(-e BROKER_CURVE_PUBLIC_KEY="$broker_key" -e WORKER_CURVE_SECRET_KEY="$worker_key")
  fi
  if [ -f /etc/gpufleet/models.json ]; then
    args+=(-e WORKER_CONFIG=/etc/gpufleet/models.json -v /etc/gpufleet/models.json:/etc/gpufleet/models.json:ro)
  fi
  docker run -d "${args[@]}" "$image"
done
echo "gpufleet: $gpus worker(s) joining $broker_url"
