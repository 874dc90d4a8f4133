#!/usr/bin/env bash
# Starts and stops a private libvirtd (with its own virtlogd) whose configuration, sockets,
# state, logs and cache all live under DIR, so tests never touch a system-wide libvirtd and two
# instances can run side by side on one host (live migration between them).
#
#   scripts/libvirtd.sh start DIR [TCP_PORT]  install what is missing, start virtlogd + libvirtd
#                                            (a host UUID already in DIR/host_uuid is kept);
#                                            with TCP_PORT also listen on 127.0.0.1:TCP_PORT
#                                            (plain TCP, no TLS, no auth: for migration tests).
#                                            Prints KEY=VALUE lines (also saved in DIR/env):
#                                              LIBVIRT_SOCKET  unix socket path (go-libvirt dialer)
#                                              LIBVIRT_URI     qemu+unix:///system?socket=...
#                                              LIBVIRT_TCP_URI qemu+tcp://127.0.0.1:PORT/system
#                                              LIBVIRT_HOST_UUID the instance's host UUID
#   scripts/libvirtd.sh restart DIR          restart libvirtd only (guests and virtlogd keep
#                                            running; libvirtd reconnects to them)
#   scripts/libvirtd.sh stop DIR             kill exactly the PIDs recorded in DIR (the QEMU
#                                            processes of this instance, libvirtd, virtlogd) and
#                                            wait for them; DIR itself is left for the caller.
#
# Why a mount namespace. A libvirtd running as root is "privileged": it ignores XDG_* directory
# variables (they only apply to unprivileged session daemons; checked: with XDG_RUNTIME_DIR,
# XDG_CONFIG_HOME, XDG_STATE_HOME and XDG_CACHE_HOME pointing elsewhere it still fills
# /run/libvirt) and its drivers keep config, state, monitor sockets, logs and cache in
# compiled-in paths (/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
# /var/cache/libvirt). libvirtd.conf's unix_sock_dir moves only libvirtd's own sockets: a second
# daemon started with its own --config, unix_sock_dir and --pid-file dies at start-up with
# "Failed to acquire pid file '/run/libvirt/network/driver.pid': Resource temporarily
# unavailable" (libvirt 9.0; the QEMU driver's driver.pid would be next).
# So each daemon runs in its own mount namespace (unshare -m, private propagation) in which
# DIR/etc, DIR/run, DIR/lib, DIR/log and DIR/cache are bind-mounted over those five paths;
# nothing is mounted on the host, and the binds vanish with the last process in the namespace.
# Unix sockets are reached by inode, so the host sees libvirtd's socket at DIR/run/libvirt-sock,
# and a restarted libvirtd (a new namespace, same binds) finds its running QEMUs again.
# The network namespace is shared: migration goes over loopback.
#
# Two instances can migrate between themselves only with different host UUIDs (libvirt 9.0
# fails with "internal error: Attempt to migrate guest to the same host <uuid>" otherwise):
# each DIR gets its own random host_uuid (kept in DIR/host_uuid). qemu.conf cannot pin the
# migration stream to loopback: libvirt refuses migration_host and migration_address of
# 127.0.0.1 ("must not be the address of the local machine"), so hypervisor/kvm passes the
# stream's URI (tcp://<target host>) and listen address with each migration instead. Each
# instance takes incoming migrations on its own port range, derived from TCP_PORT.
set -euo pipefail

cmd=${1:?usage: $0 start DIR [TCP_PORT] | restart DIR | stop DIR}
dir=${2:?directory}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac

# The daemons and what hypervisor/kvm runs (genisoimage builds config drives), then what its
# real-daemon test needs to build a throwaway guest (kernel, busybox, a syslinux FAT disk).
pkgs=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  qemu-block-extra util-linux genisoimage
  linux-image-amd64 busybox-static dosfstools syslinux syslinux-common isolinux mtools)

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "libvirtd.sh: must run as root (a privileged libvirtd and mount namespaces)" >&2
    exit 1
  fi
}

install_missing() {
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "libvirtd.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2
}

# Debian's QEMU driver looks up its compiled-in user and group (both "libvirt-qemu") at start-up,
# even when qemu.conf says root; a package install without its postinst lacks them.
ensure_accounts() {
  getent group kvm >/dev/null || groupadd -r kvm
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  id libvirt-qemu >/dev/null 2>&1 ||
    useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
  # Mount points for the binds (empty directories on the host; a packaged libvirt creates them too).
  mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
}

write_config() {
  local port=$1 uuid=$2
  mkdir -p "$dir"/etc "$dir"/run "$dir"/lib/qemu "$dir"/log/qemu "$dir"/cache/qemu
  local tcp="listen_tcp = 0"
  if [ -n "$port" ]; then
    tcp="listen_tcp = 1
listen_addr = \"127.0.0.1\"
tcp_port = \"$port\"
auth_tcp = \"none\""
  fi
  cat >"$dir/etc/libvirtd.conf" <<EOF
# Written by scripts/libvirtd.sh for a private test instance; paths are inside the namespace.
unix_sock_dir = "/run/libvirt"
unix_sock_group = "root"
unix_sock_ro_perms = "0770"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
$tcp
host_uuid = "$uuid"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  local mport=49152
  [ -n "$port" ] && mport=$((20000 + (port % 20000) / 64 * 64))
  cat >"$dir/etc/qemu.conf" <<EOF
# Written by scripts/libvirtd.sh: run QEMU as root, no SELinux/AppArmor, no cgroups, no chown.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "logd"
migration_port_min = $mport
migration_port_max = $((mport + 63))
EOF
  cat >"$dir/etc/virtlogd.conf" <<EOF
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
  # Debian's client default (libvirt.conf) must not point elsewhere inside the namespace.
  : >"$dir/etc/libvirt.conf"
}

# run_in_ns LOGFILE PIDFILE PROGRAM ARGS...: start PROGRAM in the background in a new mount
# namespace with DIR's directories bound over libvirt's; records its PID in PIDFILE.
run_in_ns() {
  local log=$1 pidfile=$2
  shift 2
  # unshare(1) without --fork execs sh in the new namespace, and sh execs the daemon: the
  # background job's PID is the daemon's PID.
  setsid unshare --mount --propagation private -- sh -c '
    d=$1; shift
    mount --bind "$d/etc" /etc/libvirt &&
    mount --bind "$d/run" /run/libvirt &&
    mount --bind "$d/lib" /var/lib/libvirt &&
    mount --bind "$d/log" /var/log/libvirt &&
    mount --bind "$d/cache" /var/cache/libvirt || exit 1
    exec "$@"' sh "$dir" "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
}

wait_socket() {
  local sock=$1 pidfile=$2 name=$3 i
  for i in $(seq 1 300); do
    if [ -S "$sock" ] && { [ "$name" != libvirtd ] || virsh -c "qemu+unix:///system?socket=$sock" version >/dev/null 2>&1; }; then
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "libvirtd.sh: $name exited; its log:" >&2
      tail -n 30 "$dir/$name.out" "$dir/log/$name.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  echo "libvirtd.sh: $name did not open $sock within 30 s" >&2
  tail -n 30 "$dir/$name.out" "$dir/log/$name.log" >&2 2>/dev/null || true
  return 1
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_libvirtd() {
  local listen=()
  grep -q '^listen_tcp = 1' "$dir/etc/libvirtd.conf" && listen=(--listen)
  rm -f "$dir/run/libvirt-sock" "$dir/run/libvirt-sock-ro" "$dir/run/libvirt-admin-sock"
  run_in_ns "$dir/libvirtd.out" "$dir/libvirtd.pid" \
    libvirtd --config /etc/libvirt/libvirtd.conf --pid-file "$dir/libvirtd.pid.self" "${listen[@]}"
  wait_socket "$dir/run/libvirt-sock" "$dir/libvirtd.pid" libvirtd
}

# stop_pid PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL and wait.
stop_pid() {
  local f=$1 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$f"
}

print_env() {
  cat "$dir/env"
}

case "$cmd" in
start)
  need_root
  port=${3:-}
  if alive "$dir/libvirtd.pid"; then
    echo "libvirtd.sh: an instance already runs in $dir (pid $(cat "$dir/libvirtd.pid"))" >&2
    exit 1
  fi
  install_missing
  ensure_accounts
  mkdir -p "$dir"
  [ -f "$dir/host_uuid" ] || cat /proc/sys/kernel/random/uuid >"$dir/host_uuid"
  uuid=$(cat "$dir/host_uuid")
  write_config "$port" "$uuid"
  sock="$dir/run/libvirt-sock"
  {
    echo "LIBVIRT_SOCKET=$sock"
    echo "LIBVIRT_URI=qemu+unix:///system?socket=$sock"
    [ -n "$port" ] && echo "LIBVIRT_TCP_URI=qemu+tcp://127.0.0.1:$port/system"
    echo "LIBVIRT_HOST_UUID=$uuid"
  } >"$dir/env"
  run_in_ns "$dir/virtlogd.out" "$dir/virtlogd.pid" \
    virtlogd --config /etc/libvirt/virtlogd.conf --pid-file "$dir/virtlogd.pid.self"
  if ! wait_socket "$dir/run/virtlogd-sock" "$dir/virtlogd.pid" virtlogd; then
    stop_pid "$dir/virtlogd.pid"
    exit 1
  fi
  if ! start_libvirtd; then
    stop_pid "$dir/libvirtd.pid"
    stop_pid "$dir/virtlogd.pid"
    exit 1
  fi
  print_env
  ;;
restart)
  need_root
  [ -f "$dir/env" ] || { echo "libvirtd.sh: no instance in $dir" >&2; exit 1; }
  stop_pid "$dir/libvirtd.pid"
  start_libvirtd
  print_env
  ;;
stop)
  # QEMU processes of this instance: libvirt writes each one's PID in run/qemu/NAME.pid. Check
  # the PID still names a QEMU before killing it.
  for f in "$dir"/run/qemu/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [ -n "$pid" ] || continue
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q qemu-system; then
      cp "$f" "$dir/qemu-stop.pid"
      stop_pid "$dir/qemu-stop.pid"
    fi
  done
  stop_pid "$dir/libvirtd.pid"
  stop_pid "$dir/virtlogd.pid"
  ;;
*)
  echo "usage: $0 start DIR [TCP_PORT] | restart DIR | stop DIR" >&2
  exit 2
  ;;
esac
