#ifndef ZCACHE_CMALLOC_SHIM_H
#define ZCACHE_CMALLOC_SHIM_H
/* glibc's malloc accounting, for the density benchmark (<malloc.h> is not in
   Swift's Glibc module). Elsewhere both report nothing. */
#include <stddef.h>
#if defined(__linux__)
#include <features.h> /* defines __GLIBC__ (stddef.h is the compiler's own) */
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* Bytes malloc has handed out and not had back: chunks in use on the heap
   plus mmapped blocks (glibc 2.33+'s mallinfo2). 0 where unknown. */
static inline size_t zcache_malloc_in_use_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#else
    return 0;
#endif
}

/* Gives malloc's free memory back to the system where it can. */
static inline void zcache_malloc_trim(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
#endif
