#!/usr/bin/env bash
# CPU time per request of each thread of a server process under one wrk run (the event loop
# and, on SQLite, the database writer threads), with context switches per request.
#   bench/cpu_by_thread.sh PID URL LUA_SCRIPT [SECONDS]
set -euo pipefail
pid=$1 url=$2 lua=$3 seconds=${4:-5}
snapshot() {
  for task in /proc/"$pid"/task/*; do
    printf '%s %s %s %s\n' "$(basename "$task")" "$(awk '{print $14 + $15}' "$task/stat")" \
      "$(awk '/^voluntary_ctxt/ {print $2}' "$task/status")" "$(cat "$task/comm")"
  done | sort
}
before=$(snapshot)
requests=$(taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s "$lua" "$url" | awk '/requests in/ {print $1}')
after=$(snapshot)
ticks=$(getconf CLK_TCK)
echo "requests: $requests"
join <(echo "$before") <(echo "$after") | awk -v n="$requests" -v t="$ticks" \
  '{ printf "thread %s (%s): %.1f CPU µs/request, %.2f context switches/request\n",
     $1, $4, ($5 - $2) * 1e6 / t / n, ($6 - $3) / n }'
