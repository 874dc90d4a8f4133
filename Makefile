# Atoll: two commands set everything up.
#   make run   - install what is needed, build, start an all-in-one Atoll (prints URL and credentials)
#   make test  - install what is needed, run every test tier (unit, MariaDB, real clients, fuzz seeds)
GO        ?= go
BIN       := bin/atoll
DATA_DIR  ?= ./var
LISTEN    ?= 127.0.0.1:8080
FUZZTIME  ?= 10s

.PHONY: all build deps run test test-fast bench fuzz vet clean tiny-template

all: build

build:
	$(GO) build -o $(BIN) ./cmd/atoll

deps:
	@scripts/deps.sh

run: deps build
	$(BIN) up --demo --data-dir $(DATA_DIR) --listen $(LISTEN)

# Every tier: starts its own MariaDB (as user mysql, temporary datadir and port) and stops it.
test: deps build vet
	@scripts/test.sh

# Unit and SQLite tiers only, for quick iteration.
test-fast:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

bench: deps build
	@scripts/bench.sh

# The tiny guest template (build/tiny/: qcow2, ISO, kernel + initramfs); rebuilds only on change.
tiny-template:
	@scripts/tiny-template.sh

fuzz:
	$(GO) test ./mgmt/api -run '^$$' -fuzz FuzzRequest -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
