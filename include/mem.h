/* mem.h: large buffers, on huge pages where the OS offers them.
 *
 * Touching fresh memory costs a page fault per 4 KB page; on a virtual
 * machine that is easily 10 us, so the 47 MB training set alone would cost
 * 0.2 s in faults. Buffers of MEM_BIG (2 MB) or more are therefore aligned
 * to 2 MB and their whole 2 MB pages marked for transparent huge pages
 * (Linux madvise MADV_HUGEPAGE): one fault per 2 MB. The last part, under
 * 2 MB, stays in small pages, so that a buffer costs the memory it asked
 * for, not a multiple of 2 MB. Elsewhere, or when refused, they are
 * ordinary allocations. Free them with free(). */
#ifndef FMNIST_MEM_H
#define FMNIST_MEM_H

#include <stddef.h>

#define MEM_BIG ((size_t)2 << 20)

/* n bytes, uninitialised, or NULL. */
void *mem_alloc(size_t n);
/* n bytes of zeros, or NULL. */
void *mem_zalloc(size_t n);

#endif
