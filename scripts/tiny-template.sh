#!/usr/bin/env bash
# Builds Atoll's tiny guest template from Debian packages only, reproducibly, into build/tiny/:
#   tiny.qcow2  bootable disk (SeaBIOS -> SYSLINUX on a FAT file system -> kernel + initramfs)
#   tiny.iso    the same system on a bootable CD (ISOLINUX)
#   vmlinuz, initrd.gz, cmdline   for direct kernel boot (-kernel/-initrd/-append)
#   SHA256SUMS  checksums of the above
# The guest (scripts/tiny/) reports each boot step on the serial console; see docs/tiny-template.md.
#
# Usage: scripts/tiny-template.sh [--force | --check | --deps | --test-deps]
#   (none)       build when an input changed (script, scripts/tiny, kernel, modules, packages)
#   --force      build even when nothing changed
#   --check      build twice from scratch, compare every output byte for byte, then install
#   --deps       only install the Debian packages the build needs
#   --test-deps  also install what the boot tests use (QEMU, dnsmasq, iproute2, genisoimage, curl)
# Environment: ATOLL_TINY_OUT (output directory, default build/tiny), ATOLL_TINY_KERNEL
# (a /boot/vmlinuz-* to use instead of the newest installed one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/scripts/tiny
OUT=${ATOLL_TINY_OUT:-$ROOT/build/tiny}
# Every timestamp in every output is this one, so outputs depend only on their inputs.
EPOCH=1700000000
export SOURCE_DATE_EPOCH=$EPOCH TZ=UTC LC_ALL=C MTOOLS_SKIP_CHECK=1
umask 022

BUILD_PKGS=(linux-image-amd64 busybox-static dosfstools syslinux syslinux-common isolinux mtools
	xorriso cpio gzip qemu-utils)
TEST_PKGS=(qemu-system-x86 dnsmasq-base iproute2 genisoimage curl)

log() { echo "tiny-template: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# install_missing asks apt only for the packages dpkg-query says are not installed.
install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq -o DPkg::Lock::Timeout=600
	$sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
}

# pick_kernel sets KERNEL and KVER: ATOLL_TINY_KERNEL, or the newest /boot/vmlinuz-* with modules.
pick_kernel() {
	local k
	if [ -n "${ATOLL_TINY_KERNEL:-}" ]; then
		k=$ATOLL_TINY_KERNEL
	else
		k=""
		for c in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do
			[ -f "/lib/modules/${c#/boot/vmlinuz-}/modules.dep" ] && k=$c
		done
	fi
	[ -n "$k" ] && [ -r "$k" ] || die "no readable kernel in /boot with modules in /lib/modules"
	KERNEL=$k
	KVER=${k#/boot/vmlinuz-}
	MODDIR=/lib/modules/$KVER
	[ -f "$MODDIR/modules.dep" ] || die "$MODDIR/modules.dep missing"
}

# resolve_modules fills MOD_ORDER (load order, dependencies first) and MOD_FILE (name -> .ko path)
# for the names in scripts/tiny/modules, from modules.dep and modules.softdep ("pre:" entries that
# name a module; those naming an alias are optional and left out). Built-in modules are skipped.
resolve_modules() {
	declare -gA MOD_FILE=()
	MOD_ORDER=()
	local name path lines
	lines=$(awk -v dir="$MODDIR" '
		function norm(p) { sub(/.*\//, "", p); sub(/\.ko.*/, "", p); gsub(/-/, "_", p); return p }
		function add(m,   i, n, d) {
			if (m in seen) return
			seen[m] = 1
			if (m in builtin) return
			if (!(m in path)) { print "missing " m; err = 1; return }
			n = split(soft[m], d, " ")
			for (i = 1; i <= n; i++) if (d[i] in path) add(d[i])
			n = split(deps[m], d, " ")
			for (i = 1; i <= n; i++) add(d[i])
			print m " " dir "/" path[m]
		}
		FILENAME ~ /modules\.builtin$/ { builtin[norm($1)] = 1; next }
		FILENAME ~ /modules\.dep$/ {
			m = norm($1); sub(/:$/, "", $1); path[m] = $1
			for (i = 2; i <= NF; i++) deps[m] = deps[m] " " norm($i)
			next
		}
		FILENAME ~ /modules\.softdep$/ {
			if ($1 != "softdep") next
			on = 0
			for (i = 3; i <= NF; i++) {
				if ($i == "pre:") on = 1; else if ($i == "post:") on = 0
				else if (on) { v = $i; gsub(/-/, "_", v); soft[norm($2)] = soft[norm($2)] " " v }
			}
			next
		}
		/^[ \t]*(#|$)/ { next }
		{ gsub(/-/, "_", $1); add($1) }
		END { exit err }
	' $( [ -f "$MODDIR/modules.builtin" ] && echo "$MODDIR/modules.builtin") "$MODDIR/modules.dep" \
		$( [ -f "$MODDIR/modules.softdep" ] && echo "$MODDIR/modules.softdep") "$SRC/modules") ||
		die "cannot resolve modules for $KVER: $(echo "$lines" | grep '^missing' | tr '\n' ' ')"
	while read -r name path; do
		MOD_ORDER+=("$name")
		MOD_FILE[$name]=$path
	done <<<"$lines"
}

# fingerprint prints one hash over everything an output depends on.
fingerprint() {
	{
		sha256sum <"$ROOT/scripts/tiny-template.sh"
		(cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 stat -c '%n %a' && find . -type f -print0 | sort -z | xargs -0 sha256sum)
		sha256sum "$KERNEL" /bin/busybox /usr/lib/syslinux/modules/bios/ldlinux.c32 /usr/lib/ISOLINUX/isolinux.bin "$(command -v syslinux)"
		local m
		for m in "${MOD_ORDER[@]}"; do sha256sum "${MOD_FILE[$m]}"; done
		dpkg-query -W "${BUILD_PKGS[@]}" 2>/dev/null
		echo "epoch $EPOCH"
	} | sha256sum | cut -d' ' -f1
}

# copy_module writes module $1 uncompressed to $2 (busybox insmod reads plain .ko files).
copy_module() {
	local src=$1 dst=$2
	case $src in
	*.ko) cp "$src" "$dst" ;;
	*.ko.xz) xz -dc "$src" >"$dst" ;;
	*.ko.zst) zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$dst" ;;
	*) die "unknown module file type: $src" ;;
	esac
	chmod 0644 "$dst"
}

# build_rootfs assembles the initramfs tree in $1.
build_rootfs() {
	local r=$1 p f m
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc/atoll,proc,sys,dev,run,tmp,mnt,var/www,root}
	chmod 0700 "$r/root"
	chmod 1777 "$r/tmp"
	install -m 0755 /bin/busybox "$r/bin/busybox"
	for p in $(/bin/busybox --list-full); do
		[ -e "$r/$p" ] || [ -L "$r/$p" ] || ln -s /bin/busybox "$r/$p"
	done
	(cd "$SRC/rootfs" && find . -type d) | while read -r p; do mkdir -p "$r/$p"; done
	(cd "$SRC/rootfs" && find . -type f) | while read -r f; do
		if [ -x "$SRC/rootfs/$f" ]; then install -m 0755 "$SRC/rootfs/$f" "$r/$f"; else install -m 0644 "$SRC/rootfs/$f" "$r/$f"; fi
	done
	chmod 0600 "$r/etc/shadow"
	: >"$r/etc/atoll/modules.order"
	for m in "${MOD_ORDER[@]}"; do
		copy_module "${MOD_FILE[$m]}" "$r/lib/modules/$m.ko"
		echo "$m" >>"$r/etc/atoll/modules.order"
	done
	echo "$KVER" >"$r/etc/atoll/kernel"
	find "$r" -exec touch -h -d "@$EPOCH" {} +
}

# build_all writes every output into the empty directory $1.
build_all() {
	local o=$1 w=$1/work cmdline size_kib
	mkdir -p "$w"
	cmdline=$(grep -v '^#' "$SRC/cmdline" | tr '\n' ' ' | sed 's/  */ /g; s/ $//')
	build_rootfs "$w/root"
	(cd "$w/root" && find . -mindepth 1 -print0 | sort -z |
		cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) | gzip -9 -n >"$o/initrd.gz"
	install -m 0644 "$KERNEL" "$o/vmlinuz"
	echo "$cmdline" >"$o/cmdline"
	touch -d "@$EPOCH" "$o/initrd.gz" "$o/vmlinuz" "$o/cmdline"

	# Disk: a partitionless FAT file system with SYSLINUX in its boot sector; nothing is mounted.
	cat >"$w/syslinux.cfg" <<-EOF
		SERIAL 0 115200
		DEFAULT atoll
		PROMPT 0
		TIMEOUT 1
		LABEL atoll
		  LINUX /vmlinuz
		  INITRD /initrd.gz
		  APPEND $cmdline
	EOF
	touch -d "@$EPOCH" "$w/syslinux.cfg"
	size_kib=$((($(stat -c %s "$o/vmlinuz") + $(stat -c %s "$o/initrd.gz")) / 1024 + 4096))
	size_kib=$(((size_kib + 32767) / 32768 * 32768)) # whole 32 MiB steps
	mkfs.fat -C --invariant -i 41544f4c -n ATOLL-TINY "$w/disk.img" "$size_kib" >/dev/null
	syslinux --install "$w/disk.img"
	mcopy -m -i "$w/disk.img" "$o/vmlinuz" "$o/initrd.gz" "$w/syslinux.cfg" ::/
	qemu-img convert -f raw -O qcow2 "$w/disk.img" "$o/tiny.qcow2"

	# CD: ISOLINUX El Torito image with the same kernel, initramfs and command line.
	mkdir -p "$w/iso/isolinux"
	install -m 0644 /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$w/iso/isolinux/"
	cp "$w/syslinux.cfg" "$w/iso/isolinux/isolinux.cfg"
	install -m 0644 "$o/vmlinuz" "$o/initrd.gz" "$w/iso/"
	find "$w/iso" -exec touch -h -d "@$EPOCH" {} +
	xorriso -as mkisofs -quiet -o "$o/tiny.iso" -V ATOLL-TINY -J -R \
		-b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
		"$w/iso" 2>"$w/xorriso.log" || {
		cat "$w/xorriso.log" >&2
		die "xorriso failed"
	}
	rm -rf "$w"
	(cd "$o" && sha256sum tiny.qcow2 tiny.iso vmlinuz initrd.gz cmdline >SHA256SUMS)
}

# install_outputs moves a finished build from $1 into $OUT and records its fingerprint.
install_outputs() {
	local b=$1 fp=$2 f
	mkdir -p "$OUT"
	for f in tiny.qcow2 tiny.iso vmlinuz initrd.gz cmdline SHA256SUMS; do mv -f "$b/$f" "$OUT/$f"; done
	echo "$fp" >"$OUT/inputs.sha256"
}

report() {
	local virt
	virt=$(qemu-img info --output=json "$OUT/tiny.qcow2" | sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p')
	(cd "$OUT" && while read -r sum f; do
		printf 'tiny-template: %-11s sha256=%s size=%s\n' "$f" "$sum" "$(stat -c %s "$f")"
	done <SHA256SUMS)
	echo "tiny-template: $OUT/tiny.qcow2 virtual size $virt bytes, kernel $KVER"
}

main() {
	local mode=${1:-build}
	case $mode in
	build | --force | --check | --deps | --test-deps) ;;
	-h | --help)
		sed -n '2,17p' "$0"
		exit 0
		;;
	*) die "unknown argument $mode (see --help)" ;;
	esac
	install_missing "${BUILD_PKGS[@]}"
	[ "$mode" = --deps ] && exit 0
	if [ "$mode" = --test-deps ]; then
		install_missing "${TEST_PKGS[@]}"
		exit 0
	fi

	mkdir -p "$ROOT/build"
	exec 9>"$ROOT/build/.tiny-template.lock"
	flock 9
	pick_kernel
	resolve_modules
	local fp start
	fp=$(fingerprint)
	if [ "$mode" = build ] && [ "$(cat "$OUT/inputs.sha256" 2>/dev/null)" = "$fp" ] &&
		(cd "$OUT" 2>/dev/null && sha256sum --quiet -c SHA256SUMS 2>/dev/null); then
		log "up to date (inputs $fp)"
		report
		return 0
	fi
	start=$(date +%s.%N)
	A=$(mktemp -d "$ROOT/build/.tiny-a.XXXXXX")
	trap 'rm -rf "${A:-}" "${B:-}"' EXIT
	build_all "$A"
	if [ "$mode" = --check ]; then
		B=$(mktemp -d "$ROOT/build/.tiny-b.XXXXXX")
		build_all "$B"
		if ! cmp -s "$A/SHA256SUMS" "$B/SHA256SUMS"; then
			diff "$A/SHA256SUMS" "$B/SHA256SUMS" >&2 || true
			die "not reproducible: two builds from the same inputs differ"
		fi
		log "reproducible: two builds are byte-identical"
	fi
	install_outputs "$A" "$fp"
	log "built in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s; modules: ${MOD_ORDER[*]}"
	report
}

main "$@"
