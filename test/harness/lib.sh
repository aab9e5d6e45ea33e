# Shared helpers for kafka.sh / redis.sh. Sourced, not executed.
# shellcheck shell=bash

HARNESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HARNESS_DIR/../.." && pwd)"
RUN_ROOT="${STOCKBRIDGE_RUN_DIR:-$HARNESS_DIR/.run}"

die() {
  echo "[$HARNESS_TAG] ERROR: $*" >&2
  exit 1
}
say() { echo "[$HARNESS_TAG] $*" >&2; }

# Instance names become directory names: keep them boring.
check_name() {
  [[ "$1" =~ ^[A-Za-z0-9._-]+$ && "$1" != "." && "$1" != ".." ]] || die "bad instance name '$1' (use [A-Za-z0-9._-])"
}

# pid_alive PID: true if the process exists and is not a zombie (PID 1 here may not reap orphans).
pid_alive() {
  local pid="$1" state
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# pid_matches PID NEEDLE: the process's command line contains NEEDLE (guards against a recycled pid).
pid_matches() {
  local pid="$1" needle="$2"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

# port_listening PORT: something listens on 127.0.0.1:PORT / *:PORT.
port_listening() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# Ports already claimed by any harness instance (running or stopped-for-restart), so two instances never share one.
claimed_ports() {
  cat "$RUN_ROOT"/*/ports 2>/dev/null | sed -n 's/^[A-Z_]*PORT=\([0-9]*\)$/\1/p' || true
}

# pick_free_ports N: print N distinct free TCP ports, one per line. Picks below the kernel's ephemeral range, so that a
# client socket's random source port cannot grab the port while a broker is stopped for a restart.
# Caller must hold the ports lock (with_ports_lock) until it has written its own ports file.
pick_free_ports() {
  local n="$1" lo=20000 hi=32000 eph_lo claimed picked=() p tries=0
  eph_lo="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  if ((eph_lo - 1 < hi)); then hi=$((eph_lo - 1)); fi
  if ((hi - lo < 1000)); then lo=10000; fi
  claimed=" $(claimed_ports | tr '\n' ' ') "
  while ((${#picked[@]} < n)); do
    ((tries++ < 500)) || die "could not find $n free ports in $lo-$hi"
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    [[ "$claimed" == *" $p "* || " ${picked[*]} " == *" $p "* ]] && continue
    port_listening "$p" && continue
    picked+=("$p")
  done
  printf '%s\n' "${picked[@]}"
}

# Serialise port selection across concurrently starting instances.
ports_lock() {
  mkdir -p "$RUN_ROOT"
  exec 8>"$RUN_ROOT/.ports.lock"
  flock 8
}
ports_unlock() { exec 8>&-; }

# wait_port_free PORT SECONDS
wait_port_free() {
  local port="$1" deadline=$((SECONDS + $2))
  while port_listening "$port"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# kill_gracefully PID GRACE_SECONDS [SIGNAL]: SIGNAL (default TERM), then KILL after the grace period.
kill_gracefully() {
  local pid="$1" grace="$2" sig="${3:-TERM}" deadline
  pid_alive "$pid" || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while pid_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      say "pid $pid still alive after ${grace}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
      pid_alive "$pid" && die "pid $pid survived SIGKILL"
      return 0
    fi
    sleep 0.1
  done
}

tail_log() {
  local file="$1" n="${2:-40}"
  if [[ -f "$file" ]]; then
    echo "----- last $n lines of $file -----" >&2
    tail -n "$n" "$file" >&2
    echo "----- end of $file -----" >&2
  else
    echo "(no log file at $file)" >&2
  fi
}
