#!/usr/bin/env bash
# Regenerates the Go and Swift message code that the Go peer and the mixed-cluster tests use:
#   tools/go-peer/wirepb/groupcache.pb.go            Protos/groupcache.proto, for the Go peer (protoc-gen-go)
#   tools/go-peer/testdatapb/user.pb.go              Protos/testdata/user.proto, for the Go peer
#   Tests/GroupCacheGoPeerTests/Generated/user.pb.swift   Protos/testdata/user.proto, for Swift (protoc-gen-swift)
#
# The output is committed; CI never runs the plugins. protoc-gen-go is Debian's protoc-gen-go-1-3 (the generator
# of golang/protobuf 1.3, which Debian's golang/groupcache builds on). Debian has no protoc-gen-swift: this script
# builds it, once, from the swift-protobuf release the package depends on (about a minute) and keeps it in
# .build-protoc-gen-swift/.
#
# Usage: tools/generate-go-swift-protos.sh   (from anywhere)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/tools/install-deps" protoc-gen-go-1-3

plugin_dir="$root/.build-protoc-gen-swift"
plugin="$plugin_dir/swift-protobuf/.build/release/protoc-gen-swift"
if [ ! -x "$plugin" ]; then
    swift package resolve >/dev/null
    checkout="$root/.build/checkouts/swift-protobuf"
    [ -d "$checkout" ] || { echo "generate: no swift-protobuf checkout in .build/checkouts" >&2; exit 1; }
    mkdir -p "$plugin_dir"
    rm -rf "$plugin_dir/swift-protobuf"
    cp -R "$checkout" "$plugin_dir/swift-protobuf"
    echo "generate: building protoc-gen-swift from swift-protobuf $(git -C "$checkout" describe --tags 2>/dev/null || echo '(unknown version)')" >&2
    (cd "$plugin_dir/swift-protobuf" && swift build -c release --product protoc-gen-swift >/dev/null)
fi

go_peer="$root/tools/go-peer"
swift_out="$root/Tests/GroupCacheGoPeerTests/Generated"
mkdir -p "$go_peer/wirepb" "$go_peer/testdatapb" "$swift_out"
protoc --proto_path=Protos --go_out=paths=source_relative:"$go_peer/wirepb" Protos/groupcache.proto
protoc --proto_path=Protos/testdata --go_out=paths=source_relative:"$go_peer/testdatapb" Protos/testdata/user.proto
protoc --proto_path=Protos/testdata --plugin=protoc-gen-swift="$plugin" --swift_out="$swift_out" Protos/testdata/user.proto

echo "generate: wrote $go_peer/wirepb, $go_peer/testdatapb and $swift_out"
