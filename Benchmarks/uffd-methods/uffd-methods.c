// uffd-methods: what it costs this kernel to resolve a userfaultfd missing
// fault, for every way of putting a page under a faulting thread.
//
// Run it with scripts/uffd-methods, which builds it and runs every method:
//
//   uffd-methods PAGES_FILE METHOD [ROUNDS] [--handler-cpu N]
//                [--faulting-cpu N] [--two-faulting-threads]
//
// PAGES_FILE is a page dump (4096-byte pages; a shorter tail is ignored).
// Every page is compressed with LZ4 up front. A region of as many pages is
// registered with userfaultfd; each round, the faulting thread reads one byte
// of every page in a shuffled order (the same orders in every run: srand(42)),
// and the handler thread resolves each fault by decompressing the page's LZ4
// copy. Every page is then compared with the file (a wrong page is counted and
// makes the exit status 1). After a round every page is dropped again.
//
// Methods (the region is "user map"; a memfd has a second, "handler map"):
//
//   copy                   private anonymous memory, registered MISSING;
//                          LZ4 into a scratch page, then UFFDIO_COPY
//                          (what ZCacheRegion does)
//   copy-memfd             a memfd mapped shared, registered MISSING;
//                          LZ4 into a scratch page, then UFFDIO_COPY
//   continue-mapped-write  a memfd mapped twice, user map registered
//                          MISSING|MINOR; LZ4 straight into the handler map
//                          (whose write fault allocates the page-cache page),
//                          then UFFDIO_CONTINUE
//   continue-pwrite        as above, but LZ4 into a scratch page, pwrite() to
//                          the memfd, then UFFDIO_CONTINUE
//   continue-populate      as continue-mapped-write, but the handler first
//                          allocates the one page-cache page with
//                          madvise(MADV_POPULATE_WRITE) on the handler map
//   wake-mapped-write      a memfd mapped twice, user map registered MISSING;
//                          LZ4 straight into the handler map, then only
//                          UFFDIO_WAKE: the faulting thread's retry finds the
//                          page in the page cache and maps it itself
//   wake-pwrite            as above, but LZ4 into a scratch page and pwrite()
//   continue-prepopulated  a lower bound for the CONTINUE methods: before each
//                          round every page-cache page is allocated
//                          (MADV_POPULATE_WRITE of the whole handler map, not
//                          timed), user map registered MINOR only; LZ4 into the
//                          handler map (no fault), then UFFDIO_CONTINUE
//   move                   private anonymous memory, registered MISSING; LZ4
//                          into a page of a pool of 64 already-faulted pages,
//                          then UFFDIO_MOVE of that page into place. The pool
//                          is refilled (MADV_POPULATE_WRITE of all 64) after
//                          the wake of the fault that empties it; that refill
//                          is timed apart and reported per page
//   copy-vs-move           as move, but faults alternate: even-numbered faults
//                          are resolved with UFFDIO_COPY, odd-numbered with
//                          UFFDIO_MOVE, so both see the same conditions. Prints
//                          one extra line comparing the two first
//
// Every resolving ioctl is issued with DONTWAKE and followed by UFFDIO_WAKE,
// so that resolving and waking are timed apart. Timed, with CLOCK_MONOTONIC,
// and reported as the median (p50) in microseconds:
//
//   decompress     handler: read() of the fault message returned -> LZ4 done
//                  (for continue-mapped-write and wake-mapped-write this
//                  includes the write fault that allocates the page-cache
//                  page; for continue-populate, the populate)
//   resolve        handler: read() returned -> resolving ioctl returned
//                  (for the wake methods: pwrite or LZ4 done)
//   resolving step handler: LZ4 done -> resolving ioctl returned (pwrite,
//                  COPY, CONTINUE or MOVE; ~0 for wake-mapped-write)
//   wake           handler: the UFFDIO_WAKE ioctl
//   handler total  handler: read() returned -> wake returned (and its mean)
//   round trip     faulting thread: before the touching read -> after it
//   bare LZ4       the same pages decompressed into one scratch page, in the
//                  round's order, on the main thread, after the round
//   drop/page      the main thread dropping one page between rounds
//                  (anonymous: MADV_DONTNEED; memfd: fallocate PUNCH_HOLE)
//   refill/page    move and copy-vs-move: the pool's refill divided by 64
//
// --handler-cpu and --faulting-cpu pin the handler thread and the faulting
// thread (the main thread, pinned before it starts the others, which inherit
// its CPU unless pinned themselves) to one CPU each. --two-faulting-threads adds a
// second faulting thread that touches the odd positions of each round's order
// while the main thread touches the even ones (only the main thread's touches
// are timed). A TLB shootdown count is not taken here: scripts/uffd-methods
// reads it from /proc/interrupts around each run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <lz4.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// UFFDIO_MOVE (Linux 6.8) and MADV_POPULATE_WRITE (5.14), for older headers.
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE_SIZE 4096
#define MOVE_POOL_PAGES 64
#define MAX_ROUNDS 1000

enum method {
    COPY,
    COPY_MEMFD,
    CONTINUE_MAPPED_WRITE,
    CONTINUE_PWRITE,
    CONTINUE_POPULATE,
    WAKE_MAPPED_WRITE,
    WAKE_PWRITE,
    CONTINUE_PREPOPULATED,
    MOVE,
    COPY_VS_MOVE,
    METHOD_COUNT
};

static const char *const method_names[METHOD_COUNT] = {
    [COPY] = "copy",
    [COPY_MEMFD] = "copy-memfd",
    [CONTINUE_MAPPED_WRITE] = "continue-mapped-write",
    [CONTINUE_PWRITE] = "continue-pwrite",
    [CONTINUE_POPULATE] = "continue-populate",
    [WAKE_MAPPED_WRITE] = "wake-mapped-write",
    [WAKE_PWRITE] = "wake-pwrite",
    [CONTINUE_PREPOPULATED] = "continue-prepopulated",
    [MOVE] = "move",
    [COPY_VS_MOVE] = "copy-vs-move",
};

static enum method method;
static int uffd;
static int memfd = -1;
static size_t page_count;
static char *user_map;    // the registered region
static char *handler_map; // the memfd's second mapping (memfd methods)
static char *file_pages;  // the pages file, mapped
static char **compressed;
static int *compressed_length;
static char *scratch_page;
static char *move_pool;
static size_t move_pool_next;

// Written by the handler thread only; read by the main thread after joining it.
static size_t fault_count;
static uint64_t *decompress_ns;
static uint64_t *resolve_ns;
static uint64_t *resolving_step_ns;
static uint64_t *wake_ns;
static uint64_t *handler_total_ns;
static uint64_t *refill_ns;
static size_t refill_count;

static atomic_bool stopping;

// The second faulting thread (--two-faulting-threads) and the main thread
// start and finish each round together through these. Each waits for the
// other by checking every 100 µs, not on a condition variable, on purpose:
// every check runs the process on that thread's CPU, as a program's other
// threads doing work would, and a CPU that has the process's memory map loaded
// is what makes UFFDIO_MOVE send TLB shootdowns. How many it sends varies
// widely from run to run, with how the threads happen to be scheduled.
static atomic_int round_started;
static atomic_int round_finished;
static size_t *touch_order;

static void fail(const char *what) {
    fprintf(stderr, "uffd-methods: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail_with(const char *what, int error) {
    fprintf(stderr, "uffd-methods: %s: %s\n", what, strerror(error));
    exit(1);
}

// UFFDIO_CONTINUE of one page: maps the page-cache page already at that
// offset of the memfd, without waking the faulting thread.
static void map_page_cache_page(uint64_t address) {
    struct uffdio_continue resolve = {
        .range = {.start = address, .len = PAGE_SIZE},
        .mode = UFFDIO_CONTINUE_MODE_DONTWAKE,
    };
    if (ioctl(uffd, UFFDIO_CONTINUE, &resolve) != 0) {
        fail("UFFDIO_CONTINUE");
    }
}

static void *allocate(size_t count, size_t size) {
    void *memory = calloc(count, size);
    if (memory == NULL) {
        fail("calloc");
    }
    return memory;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin_current_thread(int cpu) {
    if (cpu < 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (error != 0) {
        fail_with("pthread_setaffinity_np", error);
    }
}

static bool is_memfd_method(enum method m) {
    return m != COPY && m != MOVE && m != COPY_VS_MOVE;
}

static void refill_move_pool(void) {
    if (madvise(move_pool, MOVE_POOL_PAGES * PAGE_SIZE, MADV_POPULATE_WRITE) != 0) {
        fail("madvise(MADV_POPULATE_WRITE) of the move pool");
    }
    move_pool_next = 0;
}

static int handler_cpu = -1;

static void *handler_thread(void *unused) {
    (void)unused;
    pin_current_thread(handler_cpu);
    struct uffd_msg message;
    for (;;) {
        struct pollfd poll_fd = {.fd = uffd, .events = POLLIN};
        if (poll(&poll_fd, 1, 100) <= 0) {
            if (atomic_load(&stopping)) {
                return NULL;
            }
            continue;
        }
        ssize_t bytes = read(uffd, &message, sizeof message);
        if (bytes != sizeof message) {
            if (bytes < 0 && errno == EAGAIN) {
                continue;
            }
            fail("read of the userfaultfd");
        }
        uint64_t read_done = now_ns();
        if (message.event != UFFD_EVENT_PAGEFAULT) {
            fprintf(stderr, "uffd-methods: unexpected userfaultfd event %d\n", message.event);
            exit(1);
        }
        uint64_t address = message.arg.pagefault.address & ~(uint64_t)(PAGE_SIZE - 1);
        size_t index = (address - (uint64_t)user_map) / PAGE_SIZE;

        enum method this_fault = method;
        if (method == COPY_VS_MOVE) {
            this_fault = (fault_count & 1) ? MOVE : COPY;
        }
        char *destination = NULL;
        switch (this_fault) {
        case COPY:
        case COPY_MEMFD:
        case CONTINUE_PWRITE:
        case WAKE_PWRITE:
            destination = scratch_page;
            break;
        case CONTINUE_MAPPED_WRITE:
        case WAKE_MAPPED_WRITE:
        case CONTINUE_PREPOPULATED:
            destination = handler_map + index * PAGE_SIZE;
            break;
        case CONTINUE_POPULATE:
            destination = handler_map + index * PAGE_SIZE;
            if (madvise(destination, PAGE_SIZE, MADV_POPULATE_WRITE) != 0) {
                fail("madvise(MADV_POPULATE_WRITE) of one page");
            }
            break;
        case MOVE:
            destination = move_pool + move_pool_next * PAGE_SIZE;
            break;
        default:
            abort();
        }
        int decompressed = LZ4_decompress_safe(compressed[index], destination, compressed_length[index], PAGE_SIZE);
        if (decompressed != PAGE_SIZE) {
            fprintf(stderr, "uffd-methods: LZ4 decompression of page %zu returned %d\n", index, decompressed);
            exit(1);
        }
        uint64_t decompress_done = now_ns();

        switch (this_fault) {
        case COPY:
        case COPY_MEMFD: {
            struct uffdio_copy copy = {
                .dst = address,
                .src = (uint64_t)scratch_page,
                .len = PAGE_SIZE,
                .mode = UFFDIO_COPY_MODE_DONTWAKE,
            };
            if (ioctl(uffd, UFFDIO_COPY, &copy) != 0) {
                fail("UFFDIO_COPY");
            }
            break;
        }
        case CONTINUE_PWRITE:
        case WAKE_PWRITE:
            if (pwrite(memfd, scratch_page, PAGE_SIZE, (off_t)(index * PAGE_SIZE)) != PAGE_SIZE) {
                fail("pwrite to the memfd");
            }
            if (this_fault == CONTINUE_PWRITE) {
                map_page_cache_page(address);
            }
            break;
        case CONTINUE_MAPPED_WRITE:
        case CONTINUE_PREPOPULATED:
        case CONTINUE_POPULATE:
            map_page_cache_page(address);
            break;
        case WAKE_MAPPED_WRITE:
            break; // the page is in the page cache; the retry maps it
        case MOVE: {
            struct uffdio_move move = {
                .dst = address,
                .src = (uint64_t)destination,
                .len = PAGE_SIZE,
                .mode = UFFDIO_MOVE_MODE_DONTWAKE,
            };
            if (ioctl(uffd, UFFDIO_MOVE, &move) != 0) {
                fail("UFFDIO_MOVE");
            }
            move_pool_next++;
            break;
        }
        default:
            abort();
        }
        uint64_t resolved = now_ns();

        struct uffdio_range wake_range = {.start = address, .len = PAGE_SIZE};
        if (ioctl(uffd, UFFDIO_WAKE, &wake_range) != 0) {
            fail("UFFDIO_WAKE");
        }
        uint64_t woken = now_ns();

        decompress_ns[fault_count] = decompress_done - read_done;
        resolve_ns[fault_count] = resolved - read_done;
        resolving_step_ns[fault_count] = resolved - decompress_done;
        wake_ns[fault_count] = woken - resolved;
        handler_total_ns[fault_count] = woken - read_done;
        fault_count++;

        if ((method == MOVE || method == COPY_VS_MOVE) && move_pool_next == MOVE_POOL_PAGES) {
            uint64_t refill_start = now_ns();
            refill_move_pool();
            refill_ns[refill_count] = now_ns() - refill_start;
            refill_count++;
        }
    }
}

static void touch_page(size_t index) {
    volatile char byte = *(volatile char *)(user_map + index * PAGE_SIZE);
    (void)byte;
}

// The second faulting thread: the odd positions of each round's order.
static void *second_faulting_thread(void *unused) {
    (void)unused;
    int rounds_seen = 0;
    for (;;) {
        while (atomic_load(&round_started) == rounds_seen && !atomic_load(&stopping)) {
            usleep(100);
        }
        if (atomic_load(&stopping)) {
            return NULL;
        }
        rounds_seen = atomic_load(&round_started);
        for (size_t position = 1; position < page_count; position += 2) {
            touch_page(touch_order[position]);
        }
        atomic_store(&round_finished, rounds_seen);
    }
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// The p-th quantile in microseconds (sorts the array in place).
static double quantile_us(uint64_t *values, size_t count, double p) {
    qsort(values, count, sizeof *values, compare_u64);
    return (double)values[(size_t)(p * (double)(count - 1))] / 1000.0;
}

static double mean_us(const uint64_t *values, size_t count) {
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        sum += (double)values[i];
    }
    return sum / (double)count / 1000.0;
}

static long parse_number(const char *text, const char *what, long low, long high) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "uffd-methods: %s must be a number from %ld to %ld, got '%s'\n", what, low, high, text);
        exit(2);
    }
    return value;
}

static void usage(void) {
    fprintf(stderr, "usage: uffd-methods PAGES_FILE METHOD [ROUNDS] [--handler-cpu N] [--faulting-cpu N] "
                    "[--two-faulting-threads]\nmethods:");
    for (int m = 0; m < METHOD_COUNT; m++) {
        fprintf(stderr, " %s", method_names[m]);
    }
    fprintf(stderr, "\n");
    exit(2);
}

static void print_copy_vs_move(void) {
    size_t half = fault_count / 2;
    uint64_t *copy_resolve = allocate(half, sizeof(uint64_t));
    uint64_t *move_resolve = allocate(half, sizeof(uint64_t));
    uint64_t *copy_step = allocate(half, sizeof(uint64_t));
    uint64_t *move_step = allocate(half, sizeof(uint64_t));
    for (size_t i = 0; i < half; i++) {
        copy_resolve[i] = resolve_ns[2 * i];
        move_resolve[i] = resolve_ns[2 * i + 1];
        copy_step[i] = resolving_step_ns[2 * i];
        move_step[i] = resolving_step_ns[2 * i + 1];
    }
    double copy_resolve_p50 = quantile_us(copy_resolve, half, .5);
    double move_resolve_p50 = quantile_us(move_resolve, half, .5);
    double copy_step_p50 = quantile_us(copy_step, half, .5);
    double move_step_p50 = quantile_us(move_step, half, .5);
    printf("copy-vs-move p50 µs: COPY resolve %.2f resolving step %.2f | MOVE resolve %.2f resolving step %.2f | "
           "MOVE saves: resolve %.2f resolving step %.2f\n",
           copy_resolve_p50, copy_step_p50, move_resolve_p50, move_step_p50, copy_resolve_p50 - move_resolve_p50,
           copy_step_p50 - move_step_p50);
}

int main(int argc, char **argv) {
    const char *positional[3] = {NULL, NULL, NULL};
    int positional_count = 0;
    int faulting_cpu = -1;
    bool two_faulting_threads = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--handler-cpu") == 0 && i + 1 < argc) {
            handler_cpu = (int)parse_number(argv[++i], "--handler-cpu", 0, CPU_SETSIZE - 1);
        } else if (strcmp(argv[i], "--faulting-cpu") == 0 && i + 1 < argc) {
            faulting_cpu = (int)parse_number(argv[++i], "--faulting-cpu", 0, CPU_SETSIZE - 1);
        } else if (strcmp(argv[i], "--two-faulting-threads") == 0) {
            two_faulting_threads = true;
        } else if (argv[i][0] != '-' && positional_count < 3) {
            positional[positional_count++] = argv[i];
        } else {
            usage();
        }
    }
    if (positional_count < 2) {
        usage();
    }
    for (method = 0; method < METHOD_COUNT; method++) {
        if (strcmp(positional[1], method_names[method]) == 0) {
            break;
        }
    }
    if (method == METHOD_COUNT) {
        usage();
    }
    int rounds = positional[2] != NULL ? (int)parse_number(positional[2], "ROUNDS", 1, MAX_ROUNDS) : 3;

    int file = open(positional[0], O_RDONLY | O_CLOEXEC);
    if (file < 0) {
        fail(positional[0]);
    }
    off_t file_size = lseek(file, 0, SEEK_END);
    if (file_size < 0) {
        fail(positional[0]);
    }
    page_count = (size_t)file_size / PAGE_SIZE;
    if (page_count < 2) {
        fprintf(stderr, "uffd-methods: %s holds fewer than 2 pages of %d bytes\n", positional[0], PAGE_SIZE);
        exit(1);
    }
    size_t region_length = page_count * PAGE_SIZE;
    file_pages = mmap(NULL, region_length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file, 0);
    if (file_pages == MAP_FAILED) {
        fail("mmap of the pages file");
    }
    compressed = allocate(page_count, sizeof *compressed);
    compressed_length = allocate(page_count, sizeof *compressed_length);
    for (size_t i = 0; i < page_count; i++) {
        compressed[i] = allocate(1, (size_t)LZ4_compressBound(PAGE_SIZE));
        compressed_length[i] =
            LZ4_compress_default(file_pages + i * PAGE_SIZE, compressed[i], PAGE_SIZE, LZ4_compressBound(PAGE_SIZE));
        if (compressed_length[i] <= 0) {
            fprintf(stderr, "uffd-methods: LZ4 compression of page %zu failed\n", i);
            exit(1);
        }
    }

    size_t fault_capacity = page_count * (size_t)rounds;
    decompress_ns = allocate(fault_capacity, sizeof(uint64_t));
    resolve_ns = allocate(fault_capacity, sizeof(uint64_t));
    resolving_step_ns = allocate(fault_capacity, sizeof(uint64_t));
    wake_ns = allocate(fault_capacity, sizeof(uint64_t));
    handler_total_ns = allocate(fault_capacity, sizeof(uint64_t));
    refill_ns = allocate(fault_capacity, sizeof(uint64_t));
    uint64_t *round_trip_ns = allocate(fault_capacity, sizeof(uint64_t));
    uint64_t *drop_ns = allocate(fault_capacity, sizeof(uint64_t));
    uint64_t *bare_lz4_ns = allocate(fault_capacity, sizeof(uint64_t));
    scratch_page = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
    if (scratch_page == NULL) {
        fail("aligned_alloc");
    }
    memset(scratch_page, 1, PAGE_SIZE);

    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0) {
        if (errno == EPERM) {
            fprintf(stderr, "uffd-methods: userfaultfd: %s (needs root, or sysctl vm.unprivileged_userfaultfd=1)\n",
                    strerror(errno));
        } else if (errno == ENOSYS) {
            fprintf(stderr, "uffd-methods: userfaultfd: not in this kernel (CONFIG_USERFAULTFD)\n");
        } else {
            fprintf(stderr, "uffd-methods: userfaultfd: %s\n", strerror(errno));
        }
        exit(1);
    }
    struct uffdio_api api = {.api = UFFD_API};
    if (method == CONTINUE_MAPPED_WRITE || method == CONTINUE_PWRITE || method == CONTINUE_PREPOPULATED ||
        method == CONTINUE_POPULATE) {
        api.features = UFFD_FEATURE_MINOR_SHMEM;
    }
    if (method == MOVE || method == COPY_VS_MOVE) {
        api.features = UFFD_FEATURE_MOVE;
    }
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        fail("UFFDIO_API (a feature this method needs is missing in this kernel?)");
    }

    bool memfd_backed = is_memfd_method(method);
    if (memfd_backed) {
        memfd = memfd_create("uffd-methods", MFD_CLOEXEC);
        if (memfd < 0) {
            fail("memfd_create");
        }
        if (ftruncate(memfd, (off_t)region_length) != 0) {
            fail("ftruncate of the memfd");
        }
        user_map = mmap(NULL, region_length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        handler_map = mmap(NULL, region_length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (user_map == MAP_FAILED || handler_map == MAP_FAILED) {
            fail("mmap of the memfd");
        }
    } else {
        user_map = mmap(NULL, region_length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (user_map == MAP_FAILED) {
            fail("mmap of the region");
        }
    }
    if (method == MOVE || method == COPY_VS_MOVE) {
        move_pool = mmap(NULL, MOVE_POOL_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                         0);
        if (move_pool == MAP_FAILED) {
            fail("mmap of the move pool");
        }
        if (madvise(move_pool, MOVE_POOL_PAGES * PAGE_SIZE, MADV_NOHUGEPAGE) != 0) {
            fail("madvise(MADV_NOHUGEPAGE) of the move pool");
        }
        refill_move_pool();
    }
    if (madvise(user_map, region_length, MADV_NOHUGEPAGE) != 0) {
        fail("madvise(MADV_NOHUGEPAGE) of the region");
    }
    uint64_t register_mode = UFFDIO_REGISTER_MODE_MISSING;
    if (method == CONTINUE_MAPPED_WRITE || method == CONTINUE_PWRITE || method == CONTINUE_POPULATE) {
        register_mode |= UFFDIO_REGISTER_MODE_MINOR;
    }
    if (method == CONTINUE_PREPOPULATED) {
        register_mode = UFFDIO_REGISTER_MODE_MINOR;
    }
    struct uffdio_register registration = {
        .range = {.start = (uint64_t)user_map, .len = region_length},
        .mode = register_mode,
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &registration) != 0) {
        fail("UFFDIO_REGISTER");
    }

    // Threads inherit the main thread's CPU; the handler then pins itself.
    pin_current_thread(faulting_cpu);
    touch_order = allocate(page_count, sizeof *touch_order);
    pthread_t second_faulter;
    int error;
    if (two_faulting_threads) {
        error = pthread_create(&second_faulter, NULL, second_faulting_thread, NULL);
        if (error != 0) {
            fail_with("pthread_create", error);
        }
    }
    pthread_t handler;
    error = pthread_create(&handler, NULL, handler_thread, NULL);
    if (error != 0) {
        fail_with("pthread_create", error);
    }

    for (size_t i = 0; i < page_count; i++) {
        touch_order[i] = i;
    }
    srand(42);
    size_t round_trip_count = 0;
    size_t drop_count = 0;
    size_t wrong_pages = 0;
    size_t main_thread_step = two_faulting_threads ? 2 : 1;
    for (int round = 0; round < rounds; round++) {
        for (size_t i = page_count - 1; i > 0; i--) { // Fisher-Yates shuffle
            size_t j = (size_t)rand() % (i + 1);
            size_t swapped = touch_order[i];
            touch_order[i] = touch_order[j];
            touch_order[j] = swapped;
        }
        if (method == CONTINUE_PREPOPULATED) {
            if (madvise(handler_map, region_length, MADV_POPULATE_WRITE) != 0) {
                fail("madvise(MADV_POPULATE_WRITE) of the handler map");
            }
        }
        if (two_faulting_threads) {
            atomic_store(&round_started, round + 1);
        }
        for (size_t position = 0; position < page_count; position += main_thread_step) {
            size_t index = touch_order[position];
            uint64_t start = now_ns();
            touch_page(index);
            round_trip_ns[round_trip_count] = now_ns() - start;
            round_trip_count++;
            if (memcmp(user_map + index * PAGE_SIZE, file_pages + index * PAGE_SIZE, PAGE_SIZE) != 0) {
                wrong_pages++;
            }
        }
        if (two_faulting_threads) {
            while (atomic_load(&round_finished) != round + 1) {
                usleep(100);
            }
            for (size_t position = 1; position < page_count; position += 2) {
                size_t index = touch_order[position];
                if (memcmp(user_map + index * PAGE_SIZE, file_pages + index * PAGE_SIZE, PAGE_SIZE) != 0) {
                    wrong_pages++;
                }
            }
        }
        for (size_t position = 0; position < page_count; position++) { // bare decompression, same order
            size_t index = touch_order[position];
            uint64_t start = now_ns();
            LZ4_decompress_safe(compressed[index], scratch_page, compressed_length[index], PAGE_SIZE);
            bare_lz4_ns[(size_t)round * page_count + position] = now_ns() - start;
        }
        for (size_t index = 0; index < page_count; index++) { // drop every page
            uint64_t start = now_ns();
            if (memfd_backed) {
                if (fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(index * PAGE_SIZE),
                              PAGE_SIZE) != 0) {
                    fail("fallocate(PUNCH_HOLE) of the memfd");
                }
            } else if (madvise(user_map + index * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED) != 0) {
                fail("madvise(MADV_DONTNEED)");
            }
            drop_ns[drop_count] = now_ns() - start;
            drop_count++;
        }
    }

    atomic_store(&stopping, true);
    pthread_join(handler, NULL);
    if (two_faulting_threads) {
        pthread_join(second_faulter, NULL);
    }

    if (method == COPY_VS_MOVE) {
        print_copy_vs_move();
    }
    double handler_total_mean = mean_us(handler_total_ns, fault_count);
    double refill_per_page = refill_count > 0 ? mean_us(refill_ns, refill_count) / MOVE_POOL_PAGES : 0.0;
    printf("%-21s faults %zu wrong %zu | p50 µs: decompress %.2f resolve %.2f resolving step %.2f wake %.2f "
           "handler total %.2f (mean %.2f) | round trip %.2f | bare LZ4 %.2f | drop/page %.2f | refill/page %.2f\n",
           method_names[method], fault_count, wrong_pages, quantile_us(decompress_ns, fault_count, .5),
           quantile_us(resolve_ns, fault_count, .5), quantile_us(resolving_step_ns, fault_count, .5),
           quantile_us(wake_ns, fault_count, .5), quantile_us(handler_total_ns, fault_count, .5), handler_total_mean,
           quantile_us(round_trip_ns, round_trip_count, .5), quantile_us(bare_lz4_ns, fault_capacity, .5),
           quantile_us(drop_ns, drop_count, .5), refill_per_page);
    return wrong_pages == 0 ? 0 : 1;
}
