#!/usr/bin/env bash
# Builds tools/go-peer/go-peer offline from Debian's golang-go and golang-github-golang-groupcache-dev (which
# brings golang/protobuf 1.3). The message code in wirepb/ and testdatapb/ is committed; tools/generate-go-swift-protos.sh
# regenerates it with Debian's protoc-gen-go.
set -euo pipefail
cd "$(dirname "$0")"
export GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/swift-groupcache-gocache}"
go build -o go-peer .
