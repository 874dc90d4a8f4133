// Package tinyimage finds, and builds when needed, Atoll's tiny guest template (a qcow2 disk,
// an ISO and a direct-boot kernel/initramfs made by scripts/tiny-template.sh from Debian
// packages) and reads the marker lines the guest prints on its serial console, so tests and
// benchmarks can boot a real guest under QEMU or libvirt and know what it did.
package tinyimage
