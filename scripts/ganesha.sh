#!/usr/bin/env bash
# Starts or stops a throwaway userspace NFSv3 server (nfs-ganesha, VFS backend) for tests.
#   scripts/ganesha.sh start DIR EXPORT_DIR [EXPORT_DIR...]
#       -> prints one line per export: the path to use in nfs://127.0.0.1/<path> URLs (the
#          export's absolute path: Pseudo = Path). Config, pid, log and recovery dirs live in DIR.
#          GANESHA_OWNER (default: the caller's pid) names the process the server belongs to:
#          a later start stops a server whose owner has died.
#          GANESHA_BIND (default 127.0.0.1) is the one address it listens on and GANESHA_CLIENTS
#          (default: that address) the clients its exports admit (a list or a CIDR), for
#          hosts that reach it from network namespaces (test/netlab_test.go).
#   scripts/ganesha.sh stop DIR
#       -> stops the ganesha started there (by its pid) and rpcbind if this script started it,
#          then removes DIR. Never touches a daemon it did not start.
#
# Quirks (measured on Debian 12, nfs-ganesha 4.3):
# - ganesha binds the fixed ports 2049 (NFS) and a mountd port registered with rpcbind (111),
#   system-wide: only one ganesha can run at a time on a machine. One daemon serves several
#   exports (one EXPORT block each, distinct Export_Id), so primary and secondary storage share
#   it. start waits up to GANESHA_WAIT seconds (default 300) for another ganesha to go away.
# - Without dbus, ganesha logs CRIT lines about dbus and a missing krb5 keytab: harmless.
# - Files changed behind ganesha's back (in EXPORT_DIR directly) can answer NFS3ERR_STALE for a
#   while (its metadata cache); tests must go through NFS only.
# - ganesha with -F stays in the foreground: we start it in the background and keep $! (its
#   own pid file is written too, but only after it daemon-initialises).
# - A ganesha killed with SIGKILL leaves its rpcbind registrations behind; the next start
#   re-registers over them.
# - When two test binaries overlap, the second waits for the first's ganesha to stop; if it
#   found the first's rpcbind running it uses it, and the first's stop then leaves that rpcbind
#   running (another ganesha needs it): one rpcbind may outlive the tests.
# - Some containers' PID 1 never reaps: a stopped daemon lingers as a zombie, which this
#   script counts as stopped.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

need_pkgs() {
  local pkgs=(nfs-ganesha nfs-ganesha-vfs rpcbind qemu-utils qemu-block-extra libnfs-utils)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "ganesha.sh: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2 || true
  $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2
}

# alive PID: true while PID exists and is not a zombie.
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

port_busy() {
  # true while something listens on TCP port $1 (ss from iproute2; fall back to /proc).
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
  else
    local hex
    hex=$(printf '%04X' "$1")
    grep -q ":$hex 00000000:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}

# running NAME: the pids of live (not zombie) processes called NAME. PID 1 of some containers
# never reaps, so a stopped daemon can linger as a zombie that pgrep still lists.
running() {
  local p
  for p in $(pgrep -x "$1" 2>/dev/null); do alive "$p" && echo "$p"; done
  return 0
}

stop_pid() {
  local pid=$1
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
}

# reap_orphans stops ganeshas this script started for an owner process that has died (a test
# binary killed by go test -timeout never runs its cleanup): each one's config sits in a state
# dir holding owner.pid. Ganeshas started otherwise are never touched.
reap_orphans() {
  local p conf sdir owner
  for p in $(running ganesha.nfsd); do
    conf=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | sed -n '/^-f$/{n;p;q}')
    [ -n "$conf" ] || continue
    sdir=$(dirname "$conf")
    [ -f "$sdir/owner.pid" ] && [ "$(cat "$sdir/ganesha.pid" 2>/dev/null)" = "$p" ] || continue
    owner=$(cat "$sdir/owner.pid")
    if ! alive "$owner"; then
      echo "ganesha.sh: stopping ganesha $p left by dead owner $owner ($sdir)" >&2
      stop_pid "$p"
      [ -f "$sdir/rpcbind.pid" ] && [ -z "$(running ganesha.nfsd)" ] && stop_pid "$(cat "$sdir/rpcbind.pid")"
      rm -rf "$sdir"
    fi
  done
}

case "$cmd" in
start)
  shift 2
  [ $# -ge 1 ] || { echo "usage: $0 start DIR EXPORT_DIR [EXPORT_DIR...]" >&2; exit 2; }
  need_pkgs
  rm -rf "$dir"; mkdir -p "$dir/recov" "$dir/run"
  echo "${GANESHA_OWNER:-$PPID}" >"$dir/owner.pid"
  # Start and stop hold a lock, so that a stop (which may end the rpcbind it started) never
  # interleaves with another test binary's start. The lock is dropped while waiting for the
  # port, so the ganesha that holds it can be stopped meanwhile.
  lock=${TMPDIR:-/tmp}/atoll-ganesha.lock
  exec 9>"$lock"
  wait_s=${GANESHA_WAIT:-300}
  deadline=$((SECONDS + wait_s))
  while :; do
    flock 9
    port_busy 2049 && reap_orphans
    port_busy 2049 || break
    flock -u 9
    if [ $SECONDS -ge $deadline ]; then
      echo "ganesha.sh: port 2049 is still in use after ${wait_s}s (another NFS server)" >&2
      exit 1
    fi
    sleep 0.2
  done
  if [ -n "$(running rpcbind)" ]; then
    echo "ganesha.sh: rpcbind already running, leaving it" >&2
  else
    rpcbind=$(command -v rpcbind || echo /usr/sbin/rpcbind)
    "$rpcbind" -w </dev/null >"$dir/rpcbind.out" 2>&1 9>&-
    for _ in $(seq 1 50); do port_busy 111 && break; sleep 0.1; done
    running rpcbind | tail -1 >"$dir/rpcbind.pid"
  fi
  {
    cat <<CONF
NFS_CORE_PARAM {
  Protocols = 3;
  Bind_addr = ${GANESHA_BIND:-127.0.0.1};
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
}
NFSv4 { RecoveryBackend = fs; RecoveryRoot = $dir/recov; Graceless = true; }
NFS_KRB5 { Active_krb5 = false; }
LOG { Default_Log_Level = EVENT; }
CONF
    id=1
    for exp in "$@"; do
      mkdir -p "$exp"
      exp=$(cd "$exp" && pwd -P)
      cat <<CONF
EXPORT {
  Export_Id = $id;
  Path = "$exp";
  Pseudo = "$exp";
  Protocols = 3;
  Transports = TCP;
  SecType = sys;
  Squash = None;
  Access_Type = None;
  CLIENT { Clients = ${GANESHA_CLIENTS:-${GANESHA_BIND:-127.0.0.1}}; Access_Type = RW; }
  FSAL { Name = VFS; }
}
CONF
      id=$((id + 1))
    done
  } >"$dir/ganesha.conf"
  ganesha=$(command -v ganesha.nfsd || echo /usr/bin/ganesha.nfsd)
  "$ganesha" -F -f "$dir/ganesha.conf" -L "$dir/ganesha.log" -p "$dir/run/ganesha.pid" \
    </dev/null >"$dir/ganesha.out" 2>&1 9>&- &
  echo $! >"$dir/ganesha.pid"
  pid=$(cat "$dir/ganesha.pid")
  for _ in $(seq 1 150); do
    if grep -q 'NFS SERVER INITIALIZED' "$dir/ganesha.log" 2>/dev/null && port_busy 2049; then
      for exp in "$@"; do (cd "$exp" && pwd -P); done
      exit 0
    fi
    alive "$pid" || { echo "ganesha exited:" >&2; tail -20 "$dir/ganesha.log" "$dir/ganesha.out" >&2; exit 1; }
    sleep 0.2
  done
  echo "ganesha did not start in 30 s" >&2; tail -20 "$dir/ganesha.log" >&2
  stop_pid "$pid"
  exit 1
  ;;
stop)
  exec 9>"${TMPDIR:-/tmp}/atoll-ganesha.lock"
  flock 9
  if [ -f "$dir/ganesha.pid" ]; then
    stop_pid "$(cat "$dir/ganesha.pid")"
  fi
  if [ -f "$dir/rpcbind.pid" ]; then
    # rpcbind we started; leave it if some other ganesha still uses it.
    if [ -n "$(running ganesha.nfsd)" ]; then
      echo "ganesha.sh: another ganesha.nfsd runs, leaving the rpcbind we started" >&2
    else
      stop_pid "$(cat "$dir/rpcbind.pid")"
    fi
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start DIR EXPORT_DIR [EXPORT_DIR...] | stop DIR" >&2; exit 2 ;;
esac
