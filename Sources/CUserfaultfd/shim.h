// Static-inline wrappers for Linux userfaultfd(2): the system call, the
// UFFDIO_* ioctls (macros Swift cannot import), their structs and flags.
// Each wrapper returns 0 (or a count) on success and -errno on failure, so
// Swift never reads errno after another call may have changed it.
// Off Linux this header is empty and ZCacheRegion compiles to "unsupported".
#ifndef ZCACHE_CUSERFAULTFD_SHIM_H
#define ZCACHE_CUSERFAULTFD_SHIM_H

#ifdef __linux__
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static const uint64_t cuffd_feature_pagefault_flag_wp = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
static const uint64_t cuffd_register_mode_missing = UFFDIO_REGISTER_MODE_MISSING;
static const uint64_t cuffd_register_mode_wp = UFFDIO_REGISTER_MODE_WP;
static const uint64_t cuffd_pagefault_flag_write = UFFD_PAGEFAULT_FLAG_WRITE;
static const uint64_t cuffd_pagefault_flag_wp = UFFD_PAGEFAULT_FLAG_WP;
static const uint64_t cuffd_ioctl_copy_bit = (uint64_t)1 << _UFFDIO_COPY;
static const uint64_t cuffd_ioctl_zeropage_bit = (uint64_t)1 << _UFFDIO_ZEROPAGE;
static const uint64_t cuffd_ioctl_writeprotect_bit = (uint64_t)1 << _UFFDIO_WRITEPROTECT;
static const uint64_t cuffd_ioctl_wake_bit = (uint64_t)1 << _UFFDIO_WAKE;

/// userfaultfd(O_CLOEXEC | O_NONBLOCK [| UFFD_USER_MODE_ONLY]): a descriptor or -errno.
static inline int cuffd_open(int user_mode_only) {
    int flags = O_CLOEXEC | O_NONBLOCK | (user_mode_only ? UFFD_USER_MODE_ONLY : 0);
    long fd = syscall(SYS_userfaultfd, flags);
    return fd < 0 ? -errno : (int)fd;
}

/// UFFDIO_API handshake asking for `features`; the kernel's answer in *features_out.
static inline int cuffd_api(int fd, uint64_t features, uint64_t *features_out,
                            uint64_t *ioctls_out) {
    struct uffdio_api api;
    memset(&api, 0, sizeof api);
    api.api = UFFD_API;
    api.features = features;
    if (ioctl(fd, UFFDIO_API, &api) != 0) return -errno;
    *features_out = api.features;
    *ioctls_out = api.ioctls;
    return 0;
}

/// UFFDIO_REGISTER [start, start+len) with `mode`; the range's ioctls in *ioctls_out.
static inline int cuffd_register(int fd, void *start, uint64_t len, uint64_t mode,
                                 uint64_t *ioctls_out) {
    struct uffdio_register reg;
    memset(&reg, 0, sizeof reg);
    reg.range.start = (uint64_t)(uintptr_t)start;
    reg.range.len = len;
    reg.mode = mode;
    if (ioctl(fd, UFFDIO_REGISTER, &reg) != 0) return -errno;
    *ioctls_out = reg.ioctls;
    return 0;
}

/// UFFDIO_UNREGISTER.
static inline int cuffd_unregister(int fd, void *start, uint64_t len) {
    struct uffdio_range range = {(uint64_t)(uintptr_t)start, len};
    return ioctl(fd, UFFDIO_UNREGISTER, &range) != 0 ? -errno : 0;
}

/// UFFDIO_COPY of one range, mapped write-protected when `write_protect`;
/// wakes the faulting threads unless `dont_wake`. -EEXIST: the page was
/// already mapped.
static inline int cuffd_copy(int fd, void *dst, const void *src, uint64_t len,
                             int write_protect, int dont_wake) {
    struct uffdio_copy copy;
    memset(&copy, 0, sizeof copy);
    copy.dst = (uint64_t)(uintptr_t)dst;
    copy.src = (uint64_t)(uintptr_t)src;
    copy.len = len;
    copy.mode = (write_protect ? UFFDIO_COPY_MODE_WP : 0) |
                (dont_wake ? UFFDIO_COPY_MODE_DONTWAKE : 0);
    if (ioctl(fd, UFFDIO_COPY, &copy) != 0) return -errno;
    return 0;
}

/// UFFDIO_ZEROPAGE: map the shared zero page, without waking the faulting
/// threads (the caller write-protects it first, then wakes them).
static inline int cuffd_zeropage_dontwake(int fd, void *dst, uint64_t len) {
    struct uffdio_zeropage zero;
    memset(&zero, 0, sizeof zero);
    zero.range.start = (uint64_t)(uintptr_t)dst;
    zero.range.len = len;
    zero.mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE;
    if (ioctl(fd, UFFDIO_ZEROPAGE, &zero) != 0) return -errno;
    return 0;
}

/// UFFDIO_WRITEPROTECT: protect (`protect` != 0, without waking) or
/// unprotect (waking the threads that faulted on the range).
static inline int cuffd_writeprotect(int fd, void *start, uint64_t len, int protect) {
    struct uffdio_writeprotect wp;
    memset(&wp, 0, sizeof wp);
    wp.range.start = (uint64_t)(uintptr_t)start;
    wp.range.len = len;
    wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) != 0 ? -errno : 0;
}

/// UFFDIO_WAKE: wake the threads waiting on a fault in the range.
static inline int cuffd_wake(int fd, void *start, uint64_t len) {
    struct uffdio_range range = {(uint64_t)(uintptr_t)start, len};
    return ioctl(fd, UFFDIO_WAKE, &range) != 0 ? -errno : 0;
}

/// One page fault, as read from the descriptor.
struct cuffd_fault {
    uint64_t address;
    uint64_t flags;
};

/// Reads up to `max` (<= 64) events; keeps the page faults (the only events
/// registered for) in `out`. Returns how many, 0 when none is pending, or -errno.
static inline int cuffd_read_faults(int fd, struct cuffd_fault *out, int max) {
    struct uffd_msg messages[64];
    if (max > 64) max = 64;
    ssize_t got = read(fd, messages, sizeof(struct uffd_msg) * (size_t)max);
    if (got < 0) return errno == EAGAIN ? 0 : -errno;
    int count = (int)(got / (ssize_t)sizeof(struct uffd_msg));
    int faults = 0;
    for (int i = 0; i < count; i++) {
        if (messages[i].event != UFFD_EVENT_PAGEFAULT) continue;
        out[faults].address = messages[i].arg.pagefault.address;
        out[faults].flags = messages[i].arg.pagefault.flags;
        faults++;
    }
    return faults;
}

/// Copies `len` bytes of this process's memory from `src` to `dst` through the
/// kernel (process_vm_readv on itself). The reclaimer copies a write-protected
/// page this way: the write protection is what orders the user threads' last
/// writes before the copy, and the thread sanitizer cannot see that ordering;
/// a copy made by the kernel is, correctly, not a racing read to it.
static inline int cuffd_copy_from_self(void *dst, const void *src, uint64_t len) {
    struct iovec local = {dst, (size_t)len};
    struct iovec remote = {(void *)src, (size_t)len};
    ssize_t done = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (done < 0) return -errno;
    return done == (ssize_t)len ? 0 : -EIO;
}

#endif  // __linux__
#endif  // ZCACHE_CUSERFAULTFD_SHIM_H
