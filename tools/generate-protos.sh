#!/usr/bin/env bash
# Regenerates the protobuf-c code for Protos/groupcache.proto into Sources/CGroupCacheProto.
#
# Needs protoc-c (Debian: apt-get install protobuf-c-compiler libprotobuf-c-dev). The generated code must match
# the libprotobuf-c the package links against: protoc-c refuses to pair with a different major version, and the
# header checks PROTOBUF_C_VERSION_NUMBER at compile time.
#
# Usage: tools/generate-protos.sh   (from anywhere; it finds the repository root itself)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/Sources/CGroupCacheProto"

command -v protoc-c >/dev/null || {
    echo "generate-protos: protoc-c not found; install protobuf-c-compiler" >&2
    exit 1
}

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

protoc-c --proto_path="$root/Protos" --c_out="$out" "$root/Protos/groupcache.proto"

# SwiftPM exports a C target's include/ directory; the .c file finds its header there.
mkdir -p "$target/include"
mv "$out/groupcache.pb-c.h" "$target/include/groupcache.pb-c.h"
mv "$out/groupcache.pb-c.c" "$target/groupcache.pb-c.c"

echo "generate-protos: wrote $target/include/groupcache.pb-c.h and $target/groupcache.pb-c.c ($(protoc-c --version | head -1))"
