#!/usr/bin/env bash
# Several airelay instances and an nginx load balancer in front of them, on loopback, with
# no container: the topology of deploy/docker-compose.yml on one machine.
#
#   scripts/instances.sh start DIR    # INSTANCES (2) gateways + nginx; logs and pids in DIR
#   scripts/instances.sh stop DIR
#
# Required: AIRELAY_DATABASE_URL (PostgreSQL: every instance uses it), AIRELAY_SECRET_KEY
# and AIRELAY_ADMIN_KEY (shared), and usually AIRELAY_REDIS_URL. Optional: INSTANCES (2),
# FIRST_PORT (8081: instance i listens on FIRST_PORT+i), LB_PORT (8080), AIRELAY_BIN
# (airelay), NGINX_BIN (nginx). Any other AIRELAY_* variable reaches every instance.
# The instances trust nginx (127.0.0.1) to name the client in X-Forwarded-For, unless
# AIRELAY_TRUSTED_PROXIES says otherwise.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
instances=${INSTANCES:-2}
first_port=${FIRST_PORT:-8081}
lb_port=${LB_PORT:-8080}
airelay=${AIRELAY_BIN:-airelay}
nginx=${NGINX_BIN:-nginx}

wait_for_port() {  # PORT SECONDS
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ((SECONDS > deadline)); then return 1; fi
    sleep 0.1
  done
}

start() {
  : "${AIRELAY_DATABASE_URL:?set AIRELAY_DATABASE_URL (PostgreSQL)}"
  : "${AIRELAY_SECRET_KEY:?set AIRELAY_SECRET_KEY (shared by the instances)}"
  : "${AIRELAY_ADMIN_KEY:?set AIRELAY_ADMIN_KEY (mgmt-...)}"
  local servers="" i port
  # Once, before any instance starts (as the Kubernetes example's Job does).
  "$airelay" migrate >"$dir/migrate.log" 2>&1 || { echo "$0: migrate failed; see $dir/migrate.log" >&2; exit 1; }
  for ((i = 0; i < instances; i++)); do
    port=$((first_port + i))
    mkdir -p "$dir/instance-$i"
    AIRELAY_HOST=127.0.0.1 AIRELAY_PORT=$port AIRELAY_DATA_DIR="$dir/instance-$i" \
      AIRELAY_TRUSTED_PROXIES=${AIRELAY_TRUSTED_PROXIES:-127.0.0.1} nohup "$airelay" serve >"$dir/instance-$i.log" 2>&1 </dev/null &
    echo $! >"$dir/instance-$i.pid"
    servers+="        server 127.0.0.1:$port;"$'\n'
  done
  for ((i = 0; i < instances; i++)); do
    if ! wait_for_port $((first_port + i)) 60; then
      echo "$0: instance $i did not start; see $dir/instance-$i.log" >&2
      stop
      exit 1
    fi
  done
  mkdir -p "$dir/nginx"
  local user_line=""
  if [[ $(id -u) == 0 ]]; then user_line="user root;"; fi
  cat >"$dir/nginx.conf" <<CONF
$user_line
daemon on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events {}
http {
    access_log off;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    upstream airelay {
$servers        keepalive 64;
    }
    server {
        listen 127.0.0.1:$lb_port;
        client_max_body_size 64m;
        location / {
            proxy_pass http://airelay;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 3600s;
        }
    }
}
CONF
  "$nginx" -p "$dir/nginx" -c "$dir/nginx.conf"
  wait_for_port "$lb_port" 10
  echo "airelay: $instances instances behind http://127.0.0.1:$lb_port"
}

stop() {
  local pidfile pid
  if [[ -f "$dir/nginx.pid" ]]; then
    "$nginx" -p "$dir/nginx" -c "$dir/nginx.conf" -s quit 2>/dev/null || true
  fi
  for pidfile in "$dir"/instance-*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case $action in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
