#!/usr/bin/env bash
# The fleet across hosts: network namespaces joined by a bridge stand in for machines on one network.
#   broker host 10.77.0.1: Redis (with a password) and the broker (CurveZMQ, ZAP allow-list of two worker keys)
#   gateway host 10.77.0.2: the gateway, reaching Redis over TCP
#   worker hosts 10.77.0.3 and 10.77.0.4: one worker each, CURVE to the broker; shared storage is the
#   common file system (an NFS mount in production)
#   the client: the bridge's own address 10.77.0.254, where this script's curl calls come from
# Then: jobs run on both workers; one worker host's link is cut while it runs jobs; its jobs finish on the
# other worker, each exactly once, none lost; the link comes back and the worker rejoins and takes jobs again.
#
# Needs root (CAP_NET_ADMIN) and iproute2; exits 77 (skipped, with the reason) where namespaces cannot be made.
# Usage: tests/netns/multihost.sh BIN_DIR
set -euo pipefail

BIN_DIR=${1:?usage: multihost.sh BIN_DIR}
BIN_DIR=$(cd "$BIN_DIR" && pwd)
TAG="gf$$"
SW="$TAG-sw"
HOSTS=(broker gateway w1 w2)
declare -A ADDRESS=([broker]=10.77.0.1 [gateway]=10.77.0.2 [w1]=10.77.0.3 [w2]=10.77.0.4)
CLIENT=10.77.0.254
WORK=$(mktemp -d /tmp/gpufleet-netns-XXXXXX)
PIDS=()
REDIS_PASSWORD="netns-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
GATEWAY_URL="http://${ADDRESS[gateway]}:8001"

log() { echo "multihost: $*"; }

cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $(basename "$f") (last 40 lines)"
      tail -n 40 "$f"
    done
  fi
  for h in "${HOSTS[@]}"; do ip netns del "$TAG-$h" 2>/dev/null || true; done
  ip netns del "$SW" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

fail() {
  echo "multihost: FAILED: $*" >&2
  exit 1
}

# The namespaces and the bridge.
if ! ip netns add "$SW" 2>"$WORK/netns.err"; then
  echo "multihost: SKIPPED: cannot create network namespaces here ($(cat "$WORK/netns.err")); needs root and iproute2"
  exit 77
fi
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set lo up
ip -n "$SW" addr add "$CLIENT/24" dev br0
ip -n "$SW" link set br0 up
for h in "${HOSTS[@]}"; do
  ns="$TAG-$h"
  ip netns add "$ns"
  ip -n "$SW" link add "v-$h" type veth peer name eth0 netns "$ns"
  ip -n "$SW" link set "v-$h" master br0
  ip -n "$SW" link set "v-$h" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${ADDRESS[$h]}/24" dev eth0
  ip -n "$ns" link set eth0 up
done

on() {  # on HOST command...: runs a command on a host
  local h=$1
  shift
  ip netns exec "$TAG-$h" "$@"
}
client() { ip netns exec "$SW" "$@"; }

start() {  # start HOST NAME command...: a background process on a host, logged to NAME.log
  local h=$1 name=$2
  shift 2
  ip netns exec "$TAG-$h" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

wait_for() {  # wait_for SECONDS DESCRIPTION command...: until the command succeeds
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
}

json() {  # json EXPRESSION: evaluates a Python expression over the JSON document on stdin (as `d`)
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

api() { client curl -sS --max-time 10 "$@"; }

# Keys: the broker's and one per worker host, the allow-list naming each worker's models.
curve_keys() {  # curve_keys NAME MODELS -> NAME.public, NAME.secret, NAME.line
  "$BIN_DIR/gpufleet" keys curve "$1" "$2" >"$WORK/$1.keys"
  sed -n 's/^public key: //p' "$WORK/$1.keys" >"$WORK/$1.public"
  sed -n 's/^secret key: //p' "$WORK/$1.keys" >"$WORK/$1.secret"
  sed -n 's/^BROKER_CURVE_CLIENTS_FILE line (workers): //p' "$WORK/$1.keys" >"$WORK/$1.line"
}
curve_keys broker '*'
curve_keys w1 noop,espeak
curve_keys w2 noop,espeak
cat "$WORK/w1.line" "$WORK/w2.line" >"$WORK/clients"
BROKER_PUBLIC=$(cat "$WORK/broker.public")

STORAGE="$WORK/storage"  # every host sees it: the shared volume
mkdir -p "$STORAGE"
REDIS_URL="redis://:$REDIS_PASSWORD@${ADDRESS[broker]}:6379"
COMMON=(env "STORAGE_ROOT=$STORAGE" "REDIS_URL=$REDIS_URL" HEARTBEAT_MS=200 HEARTBEAT_LIVENESS=5 LOG_LEVEL=info
  DRAIN_GRACE_MS=1000)

log "hosts up; starting Redis and the broker on ${ADDRESS[broker]}"
start broker redis redis-server --bind "${ADDRESS[broker]}" --port 6379 --requirepass "$REDIS_PASSWORD" \
  --save '' --appendonly no --dir "$WORK"
wait_for 20 "Redis" on broker redis-cli -h "${ADDRESS[broker]}" -a "$REDIS_PASSWORD" --no-auth-warning ping
start broker broker "${COMMON[@]}" BROKER_HOST=0.0.0.0 BROKER_PORT=5555 BROKER_METRICS_PORT=0 \
  "BROKER_CURVE_SECRET_KEY_FILE=$WORK/broker.secret" "BROKER_CURVE_CLIENTS_FILE=$WORK/clients" \
  "$BIN_DIR/gpufleet-broker"
start gateway gateway "${COMMON[@]}" HOST=0.0.0.0 PORT=8001 "$BIN_DIR/gpufleet-gateway"
for w in w1 w2; do
  start "$w" "$w" "${COMMON[@]}" "WORKER_ID=$w" WORKER_MODELS=noop,espeak WORKER_SLOTS=2 DEVICE=cpu \
    "BROKER_URL=tcp://${ADDRESS[broker]}:5555" "BROKER_CURVE_PUBLIC_KEY=$BROKER_PUBLIC" \
    "WORKER_CURVE_SECRET_KEY_FILE=$WORK/$w.secret" "$BIN_DIR/gpufleet-worker"
done

workers_listed() {  # workers_listed IDS...: every named worker is registered with the broker
  local listed
  listed=$(api "$GATEWAY_URL/v1/workers" | json "' '.join(sorted(w['id'] for w in d['workers']))") || return 1
  for id in "$@"; do [[ " $listed " == *" $id "* ]] || return 1; done
}
wait_for 30 "the gateway" api -f "$GATEWAY_URL/health"
wait_for 30 "both workers to register over CURVE" workers_listed w1 w2
log "fleet up: gateway, broker and 2 workers on 4 hosts"

submit() {  # submit SLEEP_MS -> job id
  api -f -H 'Content-Type: application/json' \
    -d "{\"model\":\"noop\",\"input\":{\"text\":\"netns\",\"sleep_ms\":$1}}" "$GATEWAY_URL/v1/jobs" | json "d['id']"
}
job() { api -f "$GATEWAY_URL/v1/jobs/$1"; }
field() { job "$1" | json "d.get('$2', '')"; }

# 1. Twelve jobs of 4 s on four slots; cut w1's link while it holds two of them.
IDS=()
for _ in $(seq 12); do IDS+=("$(submit 4000)"); done
running_on() {  # running_on WORKER -> ids of the jobs the broker last recorded running there (one snapshot)
  api -f "$GATEWAY_URL/v1/workers" | json "'\\n'.join(j for w in d['workers'] if w['id'] == '$1' for j in w['running'])"
}
has_two_on_w1() { [ "$(running_on w1 | grep -c .)" -ge 2 ]; }
wait_for 20 "w1 to run two jobs" has_two_on_w1
CUT=$(running_on w1)
ip -n "$SW" link set v-w1 down
CUT_MS=$(date +%s%3N)
log "cut w1's link while it ran: $(echo "$CUT" | tr '\n' ' ')"

all_final() {
  for id in "$@"; do
    case "$(field "$id" state)" in succeeded|failed|cancelled|expired) ;; *) return 1 ;; esac
  done
}
wait_for 90 "every job to end" all_final "${IDS[@]}"
for id in "${IDS[@]}"; do
  [ "$(field "$id" state)" = succeeded ] || fail "job $id ended $(job "$id")"
done
moved=0
for id in $CUT; do
  record=$(job "$id")
  # A job that ended in the instant between the snapshot and the cut did not need to move.
  if [ "$(echo "$record" | json "d.get('worker')")" = w1 ] &&
    [ "$(echo "$record" | json "d['finished_at_ms']")" -le "$CUT_MS" ]; then
    continue
  fi
  [ "$(echo "$record" | json "d.get('worker')")" = w2 ] || fail "job $id was cut off on w1 but did not finish on w2: $record"
  [ "$(echo "$record" | json "d['attempts']")" -ge 2 ] || fail "job $id: expected a second attempt: $record"
  moved=$((moved + 1))
  echo "$record" | json "d['finished_at_ms']" >>"$WORK/moved-finish-ms"
done
[ "$moved" -ge 1 ] || fail "no job was cut off on w1"
log "all 12 jobs succeeded; $moved cut off on w1 finished on w2, the last $(( $(sort -n "$WORK/moved-finish-ms" | tail -n1) - CUT_MS )) ms after the cut (a job runs 4000 ms)"

# Each job is recorded final exactly once, also after w1's late results (if they arrive) are refused.
count_completions() {
  on broker redis-cli -h "${ADDRESS[broker]}" -a "$REDIS_PASSWORD" --no-auth-warning XRANGE gpufleet:completions - + |
    grep -c -x "$1" || true
}
for id in "${IDS[@]}"; do
  n=$(count_completions "$id")
  [ "$n" = 1 ] || fail "job $id is in the completions stream $n times"
done

# 2. The link comes back: w1 rejoins and takes jobs again.
ip -n "$SW" link set v-w1 up
RESTORED=$SECONDS
wait_for 60 "w1 to rejoin" workers_listed w1 w2
log "w1 rejoined within $((SECONDS - RESTORED + 1)) s of its link coming back"
MORE=()
for _ in $(seq 4); do MORE+=("$(submit 1500)"); done
wait_for 60 "the later jobs to end" all_final "${MORE[@]}"
on_w1=0
for id in "${MORE[@]}"; do
  [ "$(field "$id" state)" = succeeded ] || fail "job $id ended $(job "$id")"
  [ "$(field "$id" worker)" = w1 ] && on_w1=$((on_w1 + 1))
done
[ "$on_w1" -ge 1 ] || fail "w1 took none of the 4 jobs after it rejoined"
for id in "${IDS[@]}" "${MORE[@]}"; do
  n=$(count_completions "$id")
  [ "$n" = 1 ] || fail "job $id is in the completions stream $n times"
done
log "after rejoining w1 ran $on_w1 of 4 jobs; 16 jobs, 16 completions, nothing lost"

# 3. Plain TCP from a worker host is refused: the broker speaks CURVE only.
start w2 plain-worker "${COMMON[@]}" WORKER_ID=intruder WORKER_MODELS=noop DEVICE=cpu \
  "BROKER_URL=tcp://${ADDRESS[broker]}:5555" "$BIN_DIR/gpufleet-worker"
sleep 3
workers_listed intruder && fail "a worker without a CURVE key registered"
log "a plain-TCP worker was not admitted"
log "PASSED"
