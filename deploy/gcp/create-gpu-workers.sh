#!/usr/bin/env bash
# Creates the instance template and the managed instance group of gpufleet GPU workers on GCP.
#   PROJECT=my-project ZONE=europe-west4-a BROKER_URL=tcp://10.0.0.5:5555 FILESTORE=10.0.0.9:/fleet \
#   IMAGE=europe-docker.pkg.dev/my-project/gpufleet/worker-cuda:1.0 deploy/gcp/create-gpu-workers.sh
# Step by step, with the network, Filestore and broker it expects, in docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")"

: "${PROJECT:?set PROJECT}" "${ZONE:?set ZONE}" "${BROKER_URL:?set BROKER_URL}" "${FILESTORE:?set FILESTORE}"
: "${IMAGE:?set IMAGE (the worker-cuda image in a registry the instances can pull from)}"
machine=${MACHINE:-g2-standard-8}     # one NVIDIA L4
accelerator=${ACCELERATOR:-type=nvidia-l4,count=1}
size=${SIZE:-2}
network=${NETWORK:-default}
template=${TEMPLATE:-gpufleet-worker-$(date +%Y%m%d-%H%M%S)}
group=${GROUP:-gpufleet-workers}
# CurveZMQ keys (gpufleet keys curve): the broker's public key and the workers' secret key, if the broker uses CURVE.
curve=""
if [ -n "${BROKER_PUBLIC_KEY:-}" ] && [ -n "${WORKER_SECRET_KEY:-}" ]; then
  curve=",gpufleet-broker-public-key=$BROKER_PUBLIC_KEY,gpufleet-worker-secret-key=$WORKER_SECRET_KEY"
fi

gcloud compute instance-templates create "$template" --project "$PROJECT" \
  --machine-type "$machine" --accelerator "$accelerator" --maintenance-policy TERMINATE \
  --image-family common-cu124-debian-11 --image-project deeplearning-platform-release \
  --boot-disk-size 100GB --network "$network" --no-address \
  --scopes cloud-platform \
  --metadata "install-nvidia-driver=True,gpufleet-broker-url=$BROKER_URL,gpufleet-filestore=$FILESTORE,gpufleet-worker-image=$IMAGE$curve" \
  --metadata-from-file "startup-script=worker-startup.sh,shutdown-script=worker-shutdown.sh"

if gcloud compute instance-groups managed describe "$group" --project "$PROJECT" --zone "$ZONE" >/dev/null 2>&1; then
  gcloud compute instance-groups managed set-instance-template "$group" --project "$PROJECT" --zone "$ZONE" \
    --template "$template"
  gcloud compute instance-groups managed rolling-action start-update "$group" --project "$PROJECT" --zone "$ZONE" \
    --version "template=$template" --max-unavailable 1 --max-surge 1
else
  gcloud compute instance-groups managed create "$group" --project "$PROJECT" --zone "$ZONE" \
    --template "$template" --size "$size"
fi
echo "gpufleet: $group uses $template; resize with: gcloud compute instance-groups managed resize $group --size N --zone $ZONE"
