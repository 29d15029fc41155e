# AV1 Relay — the two commands a fresh machine needs: `make run` and `make test`.
# Both install the Debian packages they miss (as root, `apt-get install -y`) and build what they need.

SWIFT        ?= swift
# C libraries the package links (OpenSSL now; libsrtp2, Opus and VPx for the av1sim endpoints).
DEB_BUILD    := pkg-config libssl-dev libsrtp2-dev libopus-dev libvpx-dev
# coturn's turnutils_uclient / turnutils_peer: the independent clients the suite tests against.
DEB_TEST     := coturn
RUN_PORT     ?= 3478
RUN_ARGS     ?= --listen 127.0.0.1:$(RUN_PORT) --relay-address 127.0.0.1 --user demo:demo \
                --allow-peer 127.0.0.0/8 --channel-range rfc5766 --log-level info

.PHONY: run test build build-debug deps deps-test bench format lint clean

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(DEB_BUILD))

deps-test: deps
	$(call apt_install,$(DEB_TEST))

build: deps
	$(SWIFT) build -c release --product av1relay

build-debug: deps
	$(SWIFT) build --build-tests

## make run: build and start av1relay on loopback with a demo user (Ctrl-C stops it).
run: build
	@echo ""
	@echo "av1relay: STUN/TURN on UDP 127.0.0.1:$(RUN_PORT), user 'demo' password 'demo', loopback peers allowed."
	@echo "Point a client at it, for example coturn's (Debian package coturn):"
	@echo "  turnutils_peer -L 127.0.0.1 -p 3480 &"
	@echo "  turnutils_uclient -c -u demo -w demo -e 127.0.0.1 -r 3480 -p $(RUN_PORT) -n 100 127.0.0.1"
	@echo "or a WebRTC app: iceServers: [{ urls: 'turn:127.0.0.1:$(RUN_PORT)', username: 'demo', credential: 'demo' }]"
	@echo ""
	exec $$($(SWIFT) build -c release --show-bin-path)/av1relay $(RUN_ARGS)

## make test: the whole suite (codec, engine, in-process relay, coturn interop, executable).
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test

## make bench: av1relay beside coturn under the same turnutils_uclient load (see docs/PERFORMANCE.md).
bench: deps-test build
	scripts/loadbench.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build
