// Publishing the statistics through swift-metrics.
//
//   ZCache.statistics (Codable snapshot)   SwapDevice.stats, slot map
//              \                             /
//               +-- flattened by their JSON keys (the kernel's debugfs names)
//                               |
//            one handle per name, made once, at init (MetricsFactory)
//                               |
//   levels (pageframes, zpages, zbytes, *_max, ...)  -> Gauge.record(value)
//   cumulative counts (evicted_*, failed_*, ...)      -> Counter.increment(by: delta)
//
// Nothing here is on the store/load path: the cache's own counters are atomics
// it keeps anyway; this type only reads a snapshot when asked (`update()`, or
// `run(every:)`), so a cache nobody reports costs what it cost before. The
// library never bootstraps a metrics system: with none bootstrapped,
// swift-metrics' default factory is a no-op and so is every handle made here.
//
// Names: the debugfs directory, then the kernel's file name:
// `zcache_pers_zpages`, `zbud_eph_zbytes`, `zcache_writtenback_pages`; the
// pageframe pool and swap device this implementation adds are
// `zcache_frame_pool_*` and `zcache_swap_device_*`. A name that belongs to one
// pool kind (`eph_*`, `pers_*`) also carries the dimension `kind` =
// `ephemeral` or `persistent`, so a dashboard can select by kind without
// parsing names; the name stays the kernel's so it can be found in debugfs.

import CoreMetrics
import Foundation
import ZCacheSupport

/// Reports a cache's statistics (and optionally its swap device's) through
/// swift-metrics, under the kernel's debugfs names.
///
/// Create it once, then call ``update()`` whenever the metrics should be
/// current (or let ``run(every:)`` do it). Every call publishes every statistic.
///
/// ```swift
/// MetricsSystem.bootstrap(PrometheusMetricsFactory())   // the application's choice
/// let cache = ZCache()
/// let metrics = ZCacheMetrics(cache: cache)
/// Task { try await metrics.run(every: .seconds(10)) }
/// ```
public final class ZCacheMetrics: Sendable {
    /// Whether a statistic is a level that goes up and down or a cumulative count.
    public enum Kind: Sendable, Equatable {
        /// Published as a swift-metrics `Gauge` holding the current value.
        case gauge
        /// Published as a swift-metrics `Counter`, advanced by the growth since the last report.
        case counter
    }

    /// One published statistic.
    public struct Metric: Sendable, Equatable {
        /// The metric's label, e.g. `zcache_pers_zpages`.
        public var name: String
        /// Gauge or counter.
        public var kind: Kind
        /// `("kind", "ephemeral" | "persistent")` for per-kind statistics, else empty.
        public var dimensions: [Dimension]
        /// The value in the snapshot it was read from.
        public var value: Int

        /// A label pair (`name`, `value`).
        public struct Dimension: Sendable, Equatable {
            /// The dimension's name.
            public var name: String
            /// The dimension's value.
            public var value: String
        }
    }

    enum Handle: Sendable {
        case gauge(CoreMetrics.Gauge)
        case counter(CoreMetrics.Counter)
    }

    private let cache: ZCache?
    private let swapDevice: SwapDevice?
    private let handles: [String: Handle]
    /// The last value a counter was advanced to, by name.
    private let reported = LockedValue<[String: Int]>([:])

    /// Reports `cache` (and `swapDevice`, if given) through `factory`.
    ///
    /// - Parameters:
    ///   - cache: the cache whose statistics ``update()`` reads.
    ///   - swapDevice: a swap device whose I/O counters and slots in use are
    ///     published too (`zcache_swap_device_*`).
    ///   - dimensions: added to every metric (an instance or cache name, say).
    ///   - factory: the metrics backend; by default the one the application
    ///     bootstrapped (a no-op when it bootstrapped none).
    public init(
        cache: ZCache, swapDevice: SwapDevice? = nil, dimensions: [(String, String)] = [],
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.cache = cache
        self.swapDevice = swapDevice
        handles = Self.makeHandles(
            includeSwapDevice: swapDevice != nil, dimensions: dimensions, factory: factory)
    }

    /// Reports snapshots the caller passes to ``report(_:swapDevice:)`` (for
    /// statistics taken elsewhere, such as a finished simulator run).
    public init(
        dimensions: [(String, String)] = [], factory: any MetricsFactory = MetricsSystem.factory
    ) {
        cache = nil
        swapDevice = nil
        handles = Self.makeHandles(
            includeSwapDevice: true, dimensions: dimensions, factory: factory)
    }

    /// Publishes the cache's current statistics (nothing when made without a cache).
    public func update() {
        guard let cache else { return }
        report(cache.statistics, swapDevice: swapDevice.map(SwapDeviceFigures.init))
    }

    /// Calls ``update()`` every `interval` until the task is cancelled.
    public func run(every interval: Duration) async throws {
        while true {
            update()
            try await Task.sleep(for: interval)
        }
    }

    /// Publishes one snapshot.
    public func report(_ statistics: ZCacheStatistics, swapDevice: SwapDeviceFigures? = nil) {
        let metrics = Self.metrics(statistics, swapDevice: swapDevice)
        reported.withLock { last in
            for metric in metrics {
                switch handles[metric.name] {
                case .gauge(let gauge):
                    gauge.record(metric.value)
                case .counter(let counter):
                    let previous = last[metric.name] ?? 0
                    // A count below the last one reported means a new cache
                    // (or device) behind the same name: start over from it.
                    if metric.value < previous { counter.reset() }
                    let delta = metric.value < previous ? metric.value : metric.value - previous
                    if delta > 0 { counter.increment(by: delta) }
                    last[metric.name] = metric.value
                case nil:
                    break
                }
            }
        }
    }

    // MARK: Names and kinds

    /// Every statistic of a snapshot as it is published: name, kind, dimensions, value.
    public static func metrics(_ statistics: ZCacheStatistics, swapDevice: SwapDeviceFigures? = nil)
        -> [Metric]
    {
        var out = flatten(statistics.zcache, prefix: "zcache_")
        out += flatten(statistics.zbud, prefix: "zbud_")
        out += flatten(statistics.framePool, prefix: "zcache_frame_pool_")
        out += flatten(statistics.allocator, prefix: "zcache_allocator_")
        out += flatten(statistics.remote, prefix: "zcache_")
        if let swapDevice { out += flatten(swapDevice, prefix: "zcache_swap_device_") }
        return out
    }

    /// Levels: they go down as well as up. Everything else a snapshot holds is
    /// a cumulative count, as is every kernel counter not listed here.
    static let levels: Set<String> = [
        "zcache_eph_pageframes", "zcache_pers_pageframes", "zcache_eph_zpages",
        "zcache_pers_zpages", "zcache_eph_zbytes", "zcache_pers_zbytes", "zcache_obj_count",
        "zcache_last_active_file_pageframes", "zcache_last_inactive_file_pageframes",
        "zcache_last_active_anon_pageframes", "zcache_last_inactive_anon_pageframes",
        "zcache_zero_filled_pages", "zcache_outstanding_writeback_pages",
        "zbud_eph_zbytes", "zbud_eph_zpages", "zbud_eph_pageframes", "zbud_eph_buddied_count",
        "zbud_eph_unbuddied_count", "zbud_pers_zbytes", "zbud_pers_zpages",
        "zbud_pers_pageframes", "zbud_pers_buddied_count", "zbud_pers_unbuddied_count",
        "zbud_pers_zombie_count",
        "zcache_frame_pool_frames", "zcache_frame_pool_frames_in_use",
        "zcache_frame_pool_writeback_pages_held",
        "zcache_allocator_frames_in_use", "zcache_allocator_resident_bytes",
        "zcache_allocator_metadata_bytes", "zcache_allocator_metadata_bytes_tmem",
        "zcache_allocator_metadata_bytes_allocators", "zcache_allocator_metadata_bytes_zcache",
        "zcache_swap_device_in_flight", "zcache_swap_device_slots_in_use",
        "zcache_remote_pages", "zcache_remote_round_trip_p50_us",
        "zcache_remote_round_trip_p99_us",
    ]

    /// Fractional figures of a snapshot: not published (a metric here is a
    /// whole count), and derivable from the counts that are.
    public static let ratios: Set<String> = ["pool_utilization", "metadata_bytes_per_page"]

    /// Gauge or counter for a published name. Peaks (`*_max`, `*_peak`) are levels.
    public static func kind(of name: String) -> Kind {
        name.hasSuffix("_max") || name.hasSuffix("_peak") || levels.contains(name)
            ? .gauge : .counter
    }

    /// The value's integer fields under their JSON (snake_case) keys (ratios
    /// such as `pool_utilization`, names and nested tables are not published).
    static func flatten<T: Encodable>(_ value: T, prefix: String) -> [Metric] {
        guard let data = try? JSONEncoder().encode(value),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return object.keys.sorted().compactMap { key in
            guard let number = object[key] as? NSNumber, !ratios.contains(key) else { return nil }
            let name = prefix + key
            var dimensions: [Metric.Dimension] = []
            if key.hasPrefix("eph_") {
                dimensions = [.init(name: "kind", value: "ephemeral")]
            } else if key.hasPrefix("pers_") {
                dimensions = [.init(name: "kind", value: "persistent")]
            }
            return Metric(
                name: name, kind: kind(of: name), dimensions: dimensions, value: number.intValue)
        }
    }

    private static func makeHandles(
        includeSwapDevice: Bool, dimensions: [(String, String)], factory: any MetricsFactory
    ) -> [String: Handle] {
        var handles: [String: Handle] = [:]
        let template = metrics(
            ZCacheStatistics(), swapDevice: includeSwapDevice ? SwapDeviceFigures() : nil)
        for metric in template {
            let all = metric.dimensions.map { ($0.name, $0.value) } + dimensions
            switch metric.kind {
            case .gauge:
                handles[metric.name] = .gauge(
                    CoreMetrics.Gauge(label: metric.name, dimensions: all, factory: factory))
            case .counter:
                handles[metric.name] = .counter(
                    CoreMetrics.Counter(label: metric.name, dimensions: all, factory: factory))
            }
        }
        return handles
    }
}

/// A swap device's figures as the metrics publish them: its I/O counters and
/// how many of its slots are in use.
public struct SwapDeviceFigures: Sendable, Encodable, Equatable {
    /// The device's I/O counters.
    public var io: SwapDeviceStats
    /// Slots holding a page (the header slot not counted).
    public var slotsInUse: Int

    /// Figures read from `device` now.
    public init(_ device: SwapDevice) {
        self.init(io: device.stats, slotsInUse: device.slots.usedSlots)
    }

    /// Figures given field by field.
    public init(io: SwapDeviceStats = .init(), slotsInUse: Int = 0) {
        self.io = io
        self.slotsInUse = slotsInUse
    }

    enum CodingKeys: String, CodingKey { case slotsInUse = "slots_in_use" }

    /// Encodes the I/O counters and `slots_in_use` side by side, as one flat object.
    public func encode(to encoder: any Encoder) throws {
        try io.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(slotsInUse, forKey: .slotsInUse)
    }
}
