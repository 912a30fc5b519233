// A protobuf-c allocator that refuses to hand out more than a fixed number of bytes, so that decoding a payload
// costs a bounded amount of memory however the payload is shaped.
//
// Why this shim exists: protobuf-c 1.4.1 spends 25-45 times the input size on a payload made of many tiny
// fields (for each 2-byte unknown field: a 32-byte scan record, a 24-byte unknown-field record and a data copy;
// measured at 44.5 bytes per input byte), so a 64 MiB frame could make it allocate gigabytes. Its only hook is a ProtobufCAllocator, a struct of
// C function pointers that call back with a context pointer. Writing those callbacks in C keeps the accounting
// next to malloc and keeps Swift from handing a pointer to its own state to C.
#ifndef GC_DECODE_BUDGET_H
#define GC_DECODE_BUDGET_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The extra bytes every decode may allocate on top of twice the payload: room for the message structs and
/// protobuf-c's scan records on small payloads.
#define GC_DECODE_BUDGET_SLACK ((size_t)2 * 1024 * 1024)

/// An allocator with a cap on the bytes it holds at once. Once a request would pass the cap it returns NULL,
/// which makes protobuf-c's unpack fail and free what it had built. It also counts what it holds, so that a
/// decode can be checked to give back every byte it took.
///
/// Lives on the caller's stack for one unpack and its free_unpacked; `allocator.allocator_data` points back at
/// the struct itself, so it must not be copied or moved after gc_decode_budget_init.
typedef struct gc_decode_budget {
    /// Pass `&budget->allocator` to protobuf-c's unpack and free_unpacked.
    ProtobufCAllocator allocator;
    /// The most bytes it may hold at once.
    size_t cap;
    /// Bytes handed out and not yet freed.
    size_t held;
    /// The most bytes held at once so far.
    size_t peak;
    /// Nonzero once an allocation was refused.
    int exhausted;
} gc_decode_budget;

/// What one decode used: its cap, the most it held at once, and what it still held when it ended.
typedef struct gc_decode_usage {
    size_t cap;
    size_t peak;
    size_t held;
} gc_decode_usage;

/// Sets up `budget` for decoding a payload of `payload_length` bytes: the cap is
/// 2 * payload_length + GC_DECODE_BUDGET_SLACK (saturating).
void gc_decode_budget_init(gc_decode_budget *budget, size_t payload_length);

/// Records what `budget` used as this thread's last decode; call it after free_unpacked (or a failed unpack).
void gc_decode_budget_finish(const gc_decode_budget *budget);

/// Returns what the last decode finished on this thread used (zeros before the first).
gc_decode_usage gc_decode_last_usage(void);

#ifdef __cplusplus
}
#endif

#endif
