#!/usr/bin/env bash
# Installs, once, every Debian package Atoll's tests and all-in-one need. Idempotent: it asks
# apt only for what is missing.
set -euo pipefail
pkgs=(mariadb-server mariadb-client python3-cs python3-requests python3-sshpubkeys ansible curl ca-certificates
  # real hosts: libvirt and QEMU (TCG here), qemu-img with its nfs:// block driver, config drives
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils qemu-block-extra genisoimage
  # NFS primary and secondary storage served in userspace (this kernel has no NFS server)
  nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils
  # router namespaces: DHCP/DNS (dnsmasq, dhcp_release) and load balancing
  dnsmasq-base dnsmasq-utils haproxy
  # kernel tests read router namespaces back with nft (network/router)
  nftables
  # the tiny guest template, built from Debian packages (make tiny-template)
  linux-image-amd64 busybox-static dosfstools syslinux syslinux-common isolinux mtools cpio xorriso)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
