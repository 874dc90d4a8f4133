# Shared helpers of the tiny guest's boot scripts (sourced, not run).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# say prints one marker line on the serial console, whatever the caller's stdout is.
say() {
	echo "$*" > /dev/console
}

# list_disks prints "name:bytes" for every block device except loop, ram and mapper devices,
# space-separated, in /sys/block order. A CD-ROM drive without a medium counts 0 bytes; reading
# one block also makes the kernel notice an inserted or ejected medium.
list_disks() {
	out=""
	for d in /sys/block/*; do
		[ -e "$d/size" ] || continue
		n=${d##*/}
		case $n in loop*|ram*|zram*|nbd*|dm-*|md*) continue ;; esac
		s=$(cat "$d/size" 2>/dev/null) || s=0
		case $n in sr*) dd if="/dev/$n" of=/dev/null bs=2048 count=1 2>/dev/null || s=0 ;; esac
		out="$out $n:$((${s:-0} * 512))"
	done
	echo "${out# }"
}

# list_nics prints the names of the ethernet interfaces.
list_nics() {
	for d in /sys/class/net/*; do
		[ "$(cat "$d/type" 2>/dev/null)" = 1 ] && echo "${d##*/}"
	done
}

# start_nic brings $1 up, reports its MAC and runs udhcpc on it for good (renewals, late
# leases). A waiter reports ATOLL-TINY-NO-DHCP after ten seconds without a lease; its PID is
# left in $waiter.
start_nic() {
	ip link set "$1" up
	say "ATOLL-TINY-NIC $1 $(cat "/sys/class/net/$1/address")"
	setsid udhcpc -f -i "$1" -s /etc/atoll/udhcpc.sh -t 4 -T 2 -A 5 </dev/null >/dev/null 2>&1 &
	(
		i=0
		while [ $i -lt 20 ]; do
			[ -e "/run/atoll/lease.$1" ] && exit 0
			sleep 0.5
			i=$((i + 1))
		done
		say "ATOLL-TINY-NO-DHCP $1"
	) &
	waiter=$!
}
