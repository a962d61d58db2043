#ifndef ZCACHE_CZLIB_SHIM_H
#define ZCACHE_CZLIB_SHIM_H
#include <zlib.h>

/* deflateInit2 and inflateInit2 are macros (they pass the library version and
   the stream size); Swift cannot call a macro, so wrap them. */
static inline int zcache_deflateInit2(z_streamp strm, int level, int windowBits,
                                      int memLevel, int strategy) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, memLevel, strategy);
}

static inline int zcache_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
#endif
