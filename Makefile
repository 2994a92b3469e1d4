# kk: single-packet port knocking. `make demo` and `make test` are the two
# commands a newcomer needs; both install what they use (run them as root).

# A fresh machine's root may not have Go on its PATH: ask /usr/local/go's go
# for GOPATH, or `go env GOPATH` fails and the tools' bin dir is lost.
export PATH := $(PATH):/usr/local/go/bin:$(shell PATH="$$PATH:/usr/local/go/bin" go env GOPATH 2>/dev/null)/bin

PREFIX  ?= /usr/local
DESTDIR ?=
BIN     := bin
BINARIES := $(BIN)/kk-monitor $(BIN)/kk-firewall $(BIN)/kk-client
GOFILES := $(shell find . -name '*.go' -not -path './.git/*')

.PHONY: all build deps deps-demo deps-test test unit lint bench demo protos check-protos lab-test \
	systemd-test freshroot-test clean install uninstall

all: build

# deps-demo installs what the lab needs; deps-test adds the lint, proto and
# container tools. `make deps` is both.
deps: deps-test

deps-demo:
	bash lab/deps.sh demo

deps-test:
	bash lab/deps.sh test

build: $(BINARIES)

# Static binaries: no libc to match on the target, and kk-firewall stays
# under its 15 MB RSS budget (the cgo build measures about 16 MB).
$(BIN)/%: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 go build -trimpath -o $@ ./cmd/$*

lint:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	go vet ./...
	staticcheck ./...

unit:
	go test -count=1 -timeout 20m ./...

test: deps-test build lint check-protos unit lab-test systemd-test freshroot-test

bench: deps-demo build
	go test -run '^$$' -bench . -benchmem ./...
	bash lab/lab.sh bench

demo: deps-demo build
	bash lab/lab.sh demo

protos:
	protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		proto/knockknock/firewall/v1/firewall.proto

check-protos: protos
	@git diff --exit-code -- proto/ || (echo "generated protobuf code is stale: run make protos and commit" && exit 1)

lab-test:
	bash lab/lab.sh test

# The units under a real systemd (systemd-nspawn -b), installed and enabled as
# README says, and a real knock through them.
systemd-test: build
	bash lab/realsystemd.sh $(BIN)

# README's two commands in a minimal Debian 12 root from a clean clone of HEAD
# (mmdebstrap + systemd-nspawn). Inside that root, make test runs everything
# else but not itself again.
freshroot-test:
	@if [ "$${KK_FRESHROOT:-}" = inside ]; then \
		echo "freshroot-test: SKIPPED here: this make test already runs inside the fresh root"; \
	else bash lab/freshroot.sh HEAD; fi

# DESTDIR stages a package; PREFIX defaults to /usr/local. /etc/knockknock.d is
# never removed: it holds the keys.
install: build
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" bash systemd/install.sh install $(BIN)

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" bash systemd/install.sh uninstall $(BIN)

clean:
	rm -rf $(BIN)
