#include "gc_decode_budget.h"

#include <stdint.h>
#include <stdlib.h>

static void *gc_decode_budget_alloc(void *data, size_t size) {
    gc_decode_budget *budget = data;
    if (size > budget->remaining) {
        budget->exhausted = 1;
        return NULL;
    }
    budget->remaining -= size;
    // malloc(0) may return NULL, which protobuf-c would take for a failure.
    return malloc(size > 0 ? size : 1);
}

static void gc_decode_budget_free(void *data, void *pointer) {
    (void)data;
    free(pointer);
}

void gc_decode_budget_init(gc_decode_budget *budget, size_t payload_length) {
    size_t cap = SIZE_MAX;
    if (payload_length <= (SIZE_MAX - GC_DECODE_BUDGET_SLACK) / 2) {
        cap = 2 * payload_length + GC_DECODE_BUDGET_SLACK;
    }
    budget->allocator.alloc = gc_decode_budget_alloc;
    budget->allocator.free = gc_decode_budget_free;
    budget->allocator.allocator_data = budget;
    budget->remaining = cap;
    budget->exhausted = 0;
}
