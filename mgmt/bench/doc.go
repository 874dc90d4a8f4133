// Package bench measures Atoll and prints figures: signed API requests per second and their
// latency against a real management server process, and async jobs per second through the
// real job runner on a real database. It is a program's logic (cmd/atoll-bench, make bench),
// never a test with a time bound.
package bench
