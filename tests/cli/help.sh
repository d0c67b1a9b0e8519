#!/usr/bin/env bash
# Every gpufleet program, and every subcommand of `gpufleet`, answers -h and --help with its usage on stdout
# and exit status 0, and an option it does not know with the usage on stderr and exit status 2, before it
# starts anything (common/usage.hpp). The subcommands are read from `gpufleet --help` itself, so a new one is
# walked too. Prints PASS/FAIL per check and 'N passed, N failed'.
#   tests/cli/help.sh BUILD/bin
set -uo pipefail
bin_dir=${1:?usage: help.sh BIN_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() {  # check NAME CONDITION_STATUS DETAIL
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1))
    echo "PASS $1"
  else
    failed=$((failed + 1))
    echo "FAIL $1: $3"
  fi
}

# run LABEL EXPECTED_STATUS EXPECTED_USAGE_PREFIX STREAM COMMAND...: the usage must start stdout (STREAM
# out, nothing on stderr) or appear on stderr (STREAM err, nothing on stdout).
run() {
  local label=$1 expected=$2 prefix=$3 stream=$4
  shift 4
  timeout 30 "$@" >"$work/out" 2>"$work/err" </dev/null
  local status=$?
  local ok=0 detail=""
  if [ "$status" -ne "$expected" ]; then
    ok=1
    detail="exit status $status, not $expected; stderr: $(head -c 300 "$work/err")"
  elif [ "$stream" = out ]; then
    if ! head -n 1 "$work/out" | grep -qF -- "$prefix"; then
      ok=1
      detail="stdout does not start with '$prefix': $(head -c 200 "$work/out")"
    elif [ -s "$work/err" ]; then
      ok=1
      detail="wrote to stderr: $(head -c 200 "$work/err")"
    fi
  else
    if ! grep -qF -- "$prefix" "$work/err"; then
      ok=1
      detail="stderr lacks '$prefix': $(head -c 200 "$work/err")"
    elif [ -s "$work/out" ]; then
      ok=1
      detail="wrote to stdout: $(head -c 200 "$work/out")"
    fi
  fi
  check "$label" "$ok" "$detail"
}

programs=()
for program in "$bin_dir"/gpufleet*; do
  [ -x "$program" ] && [ -f "$program" ] && programs+=("$(basename "$program")")
done
for required in gpufleet gpufleet-gateway gpufleet-broker gpufleet-worker; do
  printf '%s\n' "${programs[@]}" | grep -qx "$required"
  check "$required is built" $? "no $bin_dir/$required"
done

for program in "${programs[@]}"; do
  for option in -h --help; do
    run "$program $option" 0 "usage: $program" out "$bin_dir/$program" "$option"
  done
  run "$program --no-such-option" 2 "usage: $program" err "$bin_dir/$program" --no-such-option
done

# The subcommands, as `gpufleet --help` lists them under "commands:".
commands=$("$bin_dir/gpufleet" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1; next} on && !/^ / {exit}' |
  sort -u)
count=$(printf '%s\n' "$commands" | grep -c .)
[ "$count" -ge 11 ]
check "gpufleet --help lists its commands" $? "found $count: $commands"
for command in $commands; do
  for option in -h --help; do
    run "gpufleet $command $option" 0 "usage: gpufleet $command" out "$bin_dir/gpufleet" "$command" "$option"
  done
  run "gpufleet help $command" 0 "usage: gpufleet $command" out "$bin_dir/gpufleet" help "$command"
  run "gpufleet $command --no-such-option" 2 "usage: gpufleet $command" err \
    env GPUFLEET_URL=http://127.0.0.1:9 "$bin_dir/gpufleet" "$command" --no-such-option
done
run "gpufleet (no command)" 2 "usage: gpufleet" err "$bin_dir/gpufleet"
run "gpufleet no-such-command" 2 "usage: gpufleet" err "$bin_dir/gpufleet" no-such-command

# Numbers given to the benchmarks are checked before anything runs: a word where a number goes is a usage
# error (exit 2), not an uncaught exception (exit 134).
if [ -x "$bin_dir/gpufleet-video-bench" ]; then
  for bad in "--crop x" "--seconds soon" "--sizes 512,big" "--sizes 1.5" "--batches 0" "--seconds nan"; do
    # shellcheck disable=SC2086  # the option and its value are two words
    run "gpufleet-video-bench $bad" 2 "usage: gpufleet-video-bench" err "$bin_dir/gpufleet-video-bench" $bad
  done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
