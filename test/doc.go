// Package test holds whole-system tests: a real `atoll` process driven by real CloudStack
// clients (Debian's python3-cs today; Ansible's modules as the infrastructure lands).
package test
