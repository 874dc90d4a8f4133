#!/bin/sh
# udhcpc event script: configures the lease on $interface and prints ATOLL-TINY-IP once per address.
. /etc/atoll/lib.sh
lease=/run/atoll/lease.$interface
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	rm -f "$lease"
	;;
bound|renew)
	pfx=$mask
	[ -n "$pfx" ] || pfx=$(ipcalc -p "$ip" "${subnet:-255.255.255.0}" | sed 's/^PREFIX=//')
	old=$(cat "$lease" 2>/dev/null)
	if [ "$old" != "$ip/$pfx" ]; then
		ip -4 addr flush dev "$interface"
		ip addr add "$ip/$pfx" ${broadcast:+broadcast "$broadcast"} dev "$interface"
	fi
	if [ -n "$router" ]; then
		for r in $router; do
			ip route add default via "$r" dev "$interface" 2>/dev/null && break
		done
	fi
	if [ -n "$dns" ]; then
		{
			[ -n "$domain" ] && echo "search $domain"
			for s in $dns; do echo "nameserver $s"; done
		} > /etc/resolv.conf
	fi
	echo "$ip/$pfx" > "$lease"
	if [ "$1" = bound ] || [ "$old" != "$ip/$pfx" ]; then
		say "ATOLL-TINY-IP $interface $ip/$pfx"
	fi
	;;
esac
exit 0
