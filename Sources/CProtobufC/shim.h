// CProtobufC: the system's libprotobuf-c (Debian: libprotobuf-c-dev), found through pkg-config.
//
// Why this shim exists: a module map can only name headers by a path relative to itself, and protobuf-c's header
// lives wherever the system put it (pkg-config's include path). Including it here by its <protobuf-c/...> name
// lets the compiler find it on that path. Nothing else belongs in this file.
#ifndef GC_CPROTOBUFC_SHIM_H
#define GC_CPROTOBUFC_SHIM_H

#include <protobuf-c/protobuf-c.h>

#endif
