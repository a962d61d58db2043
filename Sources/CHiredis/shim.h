#ifndef ZCACHE_CHIREDIS_SHIM_H
#define ZCACHE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <sys/time.h>

/* hiredis's reply types are macros (REDIS_REPLY_*): give Swift constants. */
static const int zcache_redis_reply_string = REDIS_REPLY_STRING;
static const int zcache_redis_reply_array = REDIS_REPLY_ARRAY;
static const int zcache_redis_reply_integer = REDIS_REPLY_INTEGER;
static const int zcache_redis_reply_nil = REDIS_REPLY_NIL;
static const int zcache_redis_reply_status = REDIS_REPLY_STATUS;
static const int zcache_redis_reply_error = REDIS_REPLY_ERROR;
static const int zcache_redis_ok = REDIS_OK;

/* A connect with a timeout in milliseconds, and the same timeout on every
   later read and write, so no call can block for longer. */
static inline redisContext *zcache_redis_connect(const char *ip, int port, int timeout_ms) {
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(ip, port, tv);
    if (c != NULL && c->err == 0) {
        redisSetTimeout(c, tv);
    }
    return c;
}
#endif
