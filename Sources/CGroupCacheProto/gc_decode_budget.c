#include "gc_decode_budget.h"

#include <stdint.h>
#include <stdlib.h>

// Each block carries its size in a header, so that free can give its bytes back. 16 bytes keep the block that
// follows aligned for any type malloc's own blocks are.
#define GC_HEADER_BYTES ((size_t)16)

static _Thread_local gc_decode_usage gc_last_usage;

static void *gc_decode_budget_alloc(void *data, size_t size) {
    gc_decode_budget *budget = data;
    if (size > budget->cap - budget->held) {
        budget->exhausted = 1;
        return NULL;
    }
    unsigned char *block = malloc(GC_HEADER_BYTES + size);
    if (block == NULL) {
        return NULL;
    }
    *(size_t *)block = size;
    budget->held += size;
    if (budget->held > budget->peak) {
        budget->peak = budget->held;
    }
    return block + GC_HEADER_BYTES;
}

static void gc_decode_budget_free(void *data, void *pointer) {
    if (pointer == NULL) {
        return;
    }
    gc_decode_budget *budget = data;
    unsigned char *block = (unsigned char *)pointer - GC_HEADER_BYTES;
    budget->held -= *(size_t *)block;
    free(block);
}

void gc_decode_budget_init(gc_decode_budget *budget, size_t payload_length) {
    size_t cap = SIZE_MAX;
    if (payload_length <= (SIZE_MAX - GC_DECODE_BUDGET_SLACK) / 2) {
        cap = 2 * payload_length + GC_DECODE_BUDGET_SLACK;
    }
    budget->allocator.alloc = gc_decode_budget_alloc;
    budget->allocator.free = gc_decode_budget_free;
    budget->allocator.allocator_data = budget;
    budget->cap = cap;
    budget->held = 0;
    budget->peak = 0;
    budget->exhausted = 0;
}

void gc_decode_budget_finish(const gc_decode_budget *budget) {
    gc_last_usage.cap = budget->cap;
    gc_last_usage.peak = budget->peak;
    gc_last_usage.held = budget->held;
}

gc_decode_usage gc_decode_last_usage(void) {
    return gc_last_usage;
}
