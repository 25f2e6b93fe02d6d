#!/usr/bin/env bash
# CPU time a server process spends per request under wrk load: the minimum over N short runs
# (the minimum is the figure least disturbed by other work on the machine).
#   bench/cpu_per_request.sh PID URL LUA_SCRIPT [RUNS]
# The Lua script sets method, headers and body (see bench/run.py for the ones it writes).
set -euo pipefail
pid=$1 url=$2 lua=$3 runs=${4:-5}
best=""
for _ in $(seq "$runs"); do
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(taskset -c 1 wrk -t1 -c32 -d3s -s "$lua" "$url")
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  ticks_per_second=$(getconf CLK_TCK)
  micros=$(( (after - before) * 1000000 / ticks_per_second / requests ))
  if [[ -z "$best" || $micros -lt $best ]]; then best=$micros; fi
done
echo "min CPU µs/request over $runs runs: $best"
