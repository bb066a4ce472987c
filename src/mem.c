/* mem.c: big buffers on transparent huge pages. */
#define _DEFAULT_SOURCE
#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void *mem_alloc(size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n >= MEM_BIG && n <= SIZE_MAX - HUGE_PAGE) {
        size_t rounded = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        void *p = aligned_alloc(HUGE_PAGE, rounded);
        /* Only the whole huge pages: the tail stays in small pages, so
         * that what becomes resident is what was asked for. A hint:
         * failure changes nothing. */
        if (p)
            madvise(p, n / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
        return p;
    }
#endif
    return malloc(n ? n : 1);
}

void *mem_zalloc(size_t n)
{
    void *p = mem_alloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}
