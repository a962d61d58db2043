// swift-tools-version: 6.0
//
// ZCache for Swift: the Linux kernel's zcache compressed swap cache, in user space.
//
//   CLZ4, CZlib, CZstd   system codec libraries (liblz4-dev, zlib1g-dev, libzstd-dev)
//   ZCacheSupport        the one lock type and page constants shared by every module
//   PageFrames           the bounded pageframe pool (frames on demand) every allocator uses
//   ZBud                 pageframes holding up to two compressed pages
//   ZSmalloc             size-class allocator after mm/zsmalloc.c: zspages, handles, compaction
//   TMem                 object store: clients, pools, objects, index -> opaque handle
//   SwapDevice           swap entries, slot map, Linux swap file, async I/O, swap cache
//   CHiredis, RemoteTier the remote tier: compressed pages in Redis Cluster (libhiredis-dev),
//                        behind ZCache's RemotePageStore seam (RemoteTier imports ZCache)
//   ZCache               compressors, front ends, put policy, eviction, writeback, shrinker
//   CUserfaultfd         static-inline wrappers for Linux userfaultfd's ioctls
//   ZCacheRegion         a program's own memory as a front end (userfaultfd, Linux)
//   ZCacheSim            a simulated host (RAM, LRU lists, reclaim, faults) driving ZCache
//   zcache-sim           the command-line tool: run the simulator, benchmark, demo
//
// ZBud, TMem and SwapDevice do not import each other; ZCache imports all three.
// ZBud imports PageFrames (and re-exports it); ZSmalloc imports PageFrames.
import PackageDescription

/// Internal consistency checks (frame accounting, list membership, chunk counts)
/// run after every operation in debug builds, which is what `swift test` builds.
let checkedSettings: [SwiftSetting] = [
    .define("ZCACHE_INTERNAL_CHECKS", .when(configuration: .debug))
]

let package = Package(
    name: "ZCache",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ZCache", targets: ["ZCache"]),
        .library(name: "ZCacheSim", targets: ["ZCacheSim"]),
        .library(name: "ZCacheRegion", targets: ["ZCacheRegion"]),
        .executable(name: "zcache-sim", targets: ["zcache-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The library reports through swift-log and swift-metrics and bootstraps
        // neither; only the zcache-sim tool bootstraps swift-prometheus.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // `swift package generate-documentation --target ZCache` (a build-time plugin only).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM
        // refuses with a warning; the header and library are on the default paths.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"]), .brew(["hiredis"])]),

        // glibc's malloc accounting (mallinfo2, malloc_trim) for the density bench.
        .systemLibrary(name: "CMalloc"),

        .target(name: "ZCacheSupport", swiftSettings: checkedSettings),
        .target(
            name: "PageFrames", dependencies: ["ZCacheSupport"], swiftSettings: checkedSettings),
        .target(
            name: "ZBud", dependencies: ["ZCacheSupport", "PageFrames"],
            swiftSettings: checkedSettings),
        .target(
            name: "ZSmalloc", dependencies: ["ZCacheSupport", "PageFrames"],
            swiftSettings: checkedSettings),
        .target(name: "TMem", dependencies: ["ZCacheSupport"], swiftSettings: checkedSettings),
        .target(
            name: "SwapDevice",
            dependencies: ["ZCacheSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: checkedSettings),
        .target(
            name: "ZCache",
            dependencies: [
                "ZCacheSupport", "PageFrames", "ZBud", "ZSmalloc", "TMem", "SwapDevice", "CLZ4",
                "CZlib", "CZstd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: checkedSettings),
        .target(
            name: "RemoteTier", dependencies: ["CHiredis", "CZlib", "ZCacheSupport", "ZCache"],
            swiftSettings: checkedSettings),
        .systemLibrary(name: "CUserfaultfd"),
        .target(
            name: "ZCacheRegion", dependencies: ["ZCache", "ZCacheSupport", "CUserfaultfd"],
            swiftSettings: checkedSettings),
        .target(
            name: "ZCacheSim",
            dependencies: [
                "ZCache", "PageFrames", "ZBud", "ZSmalloc", "TMem", "SwapDevice", "ZCacheSupport",
                "ZCacheRegion", "CZlib", "CMalloc", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: checkedSettings),
        .executableTarget(
            name: "zcache-sim",
            dependencies: [
                "ZCacheSim", "ZCache", "ZCacheRegion", "RemoteTier",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),

        // Fuzz targets (issue 9): libFuzzer with -DZCACHE_LIBFUZZER (scripts/fuzz),
        // else a seeded random driver.
        .executableTarget(name: "ZCacheFuzz", dependencies: ["ZCache"], path: "Fuzz/ZCacheFuzz"),

        .testTarget(name: "PageFramesTests", dependencies: ["PageFrames", "ZCacheSupport"]),
        .testTarget(
            name: "ZSmallocTests", dependencies: ["ZSmalloc", "PageFrames", "ZCacheSupport"]),
        .testTarget(name: "ZBudTests", dependencies: ["ZBud", "ZCacheSupport"]),
        .testTarget(name: "TMemTests", dependencies: ["TMem", "ZCacheSupport"]),
        .testTarget(name: "SwapDeviceTests", dependencies: ["SwapDevice", "ZCacheSupport"]),
        .testTarget(
            name: "ZCacheTests",
            dependencies: [
                "ZCache", "ZCacheSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "ZCacheSimTests", dependencies: ["ZCacheSim", "ZCache", "ZCacheRegion", "CZlib"]),
        .testTarget(
            name: "RemoteTierTests",
            dependencies: ["RemoteTier", "ZCache", "ZCacheSupport", "SwapDevice"]),
        .testTarget(
            name: "ZCacheRegionTests", dependencies: ["ZCacheRegion", "ZCache", "ZCacheSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
