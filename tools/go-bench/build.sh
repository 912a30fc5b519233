#!/usr/bin/env bash
# Builds tools/go-bench/go-bench offline from Debian's golang-go and golang-github-golang-groupcache-dev.
set -euo pipefail
cd "$(dirname "$0")"
export GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/swift-groupcache-gocache}"
go build -o go-bench .
