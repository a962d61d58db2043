// ZCacheSim: a simulated host that drives ZCache the way the kernel's mm does.
//
//                 processes (anon pages: never touched | resident | swapped)
//                     |  accesses: Zipf / phased Zipf / uniform, writes bump
//                     |  versions; file reads: Zipf + sequential scans;
//                     |  or a real trace replayed (Trace/: address traces
//                     |  drive anon pages, LIRS block traces file pages)
//                     v
//   RAM budget ---- SimulatedHost ------------------------------------------
//   (pages)         | LRU lists: activeAnon inactiveAnon activeFile inactiveFile
//                   | free = RAM - resident - zcache frames - forced pages
//                   | free < low watermark -> reclaim pass:
//                   |   shrinker(LRU counts), age active lists, scan inactive
//                   |   tails (anon -> swap out, file -> cleancache put + drop)
//                   | fault -> swap in (verify) | cleancache get (verify) or
//                   |          read the file
//                   v
//                 SwapPaths (seam)  -- InMemorySwapPaths (tests of the host)
//                   |
//                 ZCacheSwapPaths --> ZCache: frontswap / cleancache / shrinker
//                                        |  writeback, device writes/reads
//                                        v
//                                     SwapDevice (Linux swap file)
//
// Contents: every page's bytes are a pure function of (owner, page, version)
// (`PageContentSource`: the built-in generator or a corpus of page dumps), so
// nothing is stored twice and every page read back is compared with what it
// must be. A run ends by reading back every swapped page; "lost" counts pages
// that came back wrong or not at all.
//
// Threads: the host runs on one thread. ZCache's writeback completes on the
// swap device's I/O threads and returns forced pages to `HostRAM`, whose
// counters are atomics; nothing else is shared.
//
// Lifecycle of an anonymous page: untouched -> (first touch) resident on the
// active anon list -> demoted to inactive when that list is short -> swapped
// out (entry) when reclaimed unreferenced -> swapped in on a fault (verified,
// entry freed) onto the inactive list -> promoted when referenced at the next
// scan. A file page: not resident -> read (cleancache or file) onto the
// inactive file list -> promoted by a second access -> reclaimed into
// cleancache and dropped.
//
// Cost: every run is also priced (`CostModel`: measured codec cost per page,
// a given device latency), so policies and "zcache off" compare on one number.
//
// Entry points: `Simulation.run` (one scenario under one shrinker policy, or
// with zcache off), `SweepReport` (`zcache-sim sweep`),
// `ZCacheBenchmark.run` (`zcache-sim bench`), `Report` (tables and JSON).
