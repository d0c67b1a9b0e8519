#!/usr/bin/env bash
# Checks what can be checked of deploy/ without a cluster or a cloud: the shell scripts with shellcheck, the
# YAML with yamllint, the compose file with docker-compose's own parser, the Kubernetes manifests' shape
# (every document has apiVersion, kind and metadata.name). Tools from scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in shellcheck yamllint docker-compose python3; do
  command -v "$tool" >/dev/null || { echo "check-deploy: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

shellcheck scripts/*.sh deploy/gcp/*.sh
yamllint -c deploy/.yamllint deploy/
docker-compose -f deploy/compose/docker-compose.yml config -q
docker-compose -f deploy/compose/docker-compose.yml --profile gpu config -q 2>/dev/null ||
  docker-compose -f deploy/compose/docker-compose.yml config -q
python3 - deploy/k8s/*.yaml <<'PY'
import sys
import yaml

for path in sys.argv[1:]:
    with open(path) as file:
        for number, doc in enumerate(yaml.safe_load_all(file)):
            if doc is None:
                continue
            missing = [key for key in ("apiVersion", "kind") if key not in doc]
            if missing or not doc.get("metadata", {}).get("name"):
                sys.exit(f"{path}: document {number} lacks {missing or 'metadata.name'}")
            if doc["kind"] in ("Deployment", "StatefulSet"):
                spec = doc["spec"]
                labels = spec["template"]["metadata"]["labels"]
                if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
                    sys.exit(f"{path}: {doc['metadata']['name']}: selector does not match the pod labels")
PY
echo "check-deploy: shell scripts, YAML, compose file and manifests pass"
