// ZCacheMetrics against the statistics it reports (through swift-metrics'
// test factory), and the events that reach a Logger: writeback write errors,
// retries given up, the cap first reached, a refused swap header.

import Foundation
import InMemoryLogging
import Logging
import MetricsTestKit
import XCTest

@testable import ZCache

final class MetricsAndLoggingTests: XCTestCase {
    /// A cache holding some persistent and ephemeral pages, with a few gets,
    /// flushes and refusals so that most counters are not zero.
    private func busyCache(logger: Logger? = nil) throws -> ZCache {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 64
        configuration.ignoreNonActiveEphemeralPuts = false
        configuration.ignoreNonActivePersistentPuts = false
        let cache = ZCache(configuration: configuration, logger: logger)
        try cache.frontswapInit(type: 0)
        for offset in 0..<40 {
            try versionedPage(id: offset, version: 1).withUnsafeBytes {
                _ = try cache.frontswapStore(type: 0, offset: UInt64(offset), page: $0)
            }
        }
        var page = [UInt8](repeating: 0, count: pageSize)
        for offset in 0..<10 {
            _ = try page.withUnsafeMutableBytes {
                try cache.frontswapLoad(type: 0, offset: UInt64(offset), into: $0)
            }
        }
        return cache
    }

    /// Every value published equals the snapshot's, under `zcache_`/`zbud_`
    /// plus its JSON key, with a `kind` dimension exactly for eph_/pers_ names.
    func testEveryStatisticIsPublishedWithItsValue() throws {
        let cache = try busyCache()
        let factory = TestMetrics()
        let metrics = ZCacheMetrics(cache: cache, factory: factory)
        metrics.update()
        let statistics = cache.statistics
        XCTAssertGreaterThan(statistics.zcache.persZPages, 0)
        let expected = try flattenedJSON(statistics)
        let published = ZCacheMetrics.metrics(statistics)
        XCTAssertEqual(published.count, expected.count, "one metric per statistic")
        for metric in published {
            let value = try XCTUnwrap(expected[metric.name], metric.name)
            let dimensions = metric.dimensions.map { ($0.name, $0.value) }
            switch metric.kind {
            case .gauge:
                let gauge = try factory.expectGauge(metric.name, dimensions)
                XCTAssertEqual(gauge.lastValue, Double(value), metric.name)
            case .counter:
                XCTAssertEqual(
                    factory.counterTotal(label: metric.name, dimensions: dimensions), Int64(value),
                    metric.name)
            }
            let isPerKind = ["zcache_eph_", "zcache_pers_", "zbud_eph_", "zbud_pers_"]
                .contains { metric.name.hasPrefix($0) }
            XCTAssertEqual(metric.dimensions.map(\.name), isPerKind ? ["kind"] : [], metric.name)
        }
        XCTAssertEqual(
            try factory.expectGauge("zcache_pers_zpages", [("kind", "persistent")]).lastValue,
            Double(statistics.zcache.persZPages))
    }

    /// Counters advance by what happened between two reports; gauges follow the level.
    func testCountersAdvanceByTheDifferenceAndGaugesFollowTheLevel() throws {
        let cache = try busyCache()
        let factory = TestMetrics()
        let metrics = ZCacheMetrics(cache: cache, dimensions: [("cache", "a")], factory: factory)
        metrics.update()
        let hitsBefore = cache.statistics.zcache.persGetHits
        var page = [UInt8](repeating: 0, count: pageSize)
        for offset in 10..<15 {
            _ = try page.withUnsafeMutableBytes {
                try cache.frontswapLoad(type: 0, offset: UInt64(offset), into: $0)
            }
        }
        metrics.update()
        metrics.update()  // nothing happened: no further increment
        let statistics = cache.statistics
        XCTAssertEqual(statistics.zcache.persGetHits, hitsBefore + 5)
        let hits = try factory.expectCounter(
            "zcache_pers_get_hits", [("kind", "persistent"), ("cache", "a")])
        XCTAssertEqual(hits.totalValue, Int64(statistics.zcache.persGetHits))
        XCTAssertEqual(hits.values.last, 5, "the second report adds the 5 new hits")
        let zpages = try factory.expectGauge(
            "zcache_pers_zpages", [("kind", "persistent"), ("cache", "a")])
        XCTAssertEqual(zpages.lastValue, Double(statistics.zcache.persZPages))
    }

    /// Every name is classified on purpose: levels and peaks are gauges, and
    /// every gauge the snapshot has is a level the cache also lowers.
    func testKinds() {
        XCTAssertEqual(ZCacheMetrics.kind(of: "zcache_pers_pageframes"), .gauge)
        XCTAssertEqual(ZCacheMetrics.kind(of: "zcache_pers_pageframes_max"), .gauge)
        XCTAssertEqual(ZCacheMetrics.kind(of: "zcache_writtenback_pages"), .counter)
        XCTAssertEqual(ZCacheMetrics.kind(of: "zbud_eph_cumul_zpages"), .counter)
        XCTAssertEqual(ZCacheMetrics.kind(of: "zcache_swap_device_in_flight"), .gauge)
        let names = Set(ZCacheMetrics.metrics(.init(), swapDevice: .init()).map(\.name))
        XCTAssertTrue(
            ZCacheMetrics.levels.isSubset(of: names), "no level names a missing statistic")
    }

    /// With no metrics system bootstrapped the reporter works and changes nothing.
    func testWorksWithoutABootstrappedBackend() throws {
        let cache = try busyCache()
        let before = cache.statistics
        ZCacheMetrics(cache: cache).update()
        XCTAssertEqual(cache.statistics, before)
    }

    // MARK: Logging

    func testWriteErrorsAndRetriesGivenUpAreLogged() throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let injector = FaultInjector()
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 256
        let cache = ZCache(configuration: configuration, logger: logger)
        let device = try SwapDevice.create(
            path: try scratchSwapPath(self), pages: 64,
            configuration: faultyDeviceConfiguration(injector))
        try cache.attachSwapDevice(device)
        injector.update { $0.alwaysFail = true }
        let entry = try cache.swapOut(versionedPage(id: 1, version: 1))
        _ = cache.writebackEverything()
        let entries = handler.entries
        let attempts = WritebackEngine.maxWriteRetries + 1
        XCTAssertEqual(
            entries.filter { $0.level == .warning && "\($0.message)".contains("write failed") }
                .count, attempts, "\(entries)")
        XCTAssertEqual(
            entries.filter { $0.level == .error && "\($0.message)".contains("gave up") }.count, 1)
        XCTAssertEqual(cache.statistics.zcache.writebackWriteErrors, attempts)
        injector.update { $0.alwaysFail = false }
        _ = try cache.swapIn(entry)
    }

    func testCapReachedIsLoggedOnce() throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let injector = FaultInjector(WriteFaultPlan(latencyMicroseconds: 20_000))
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 256
        configuration.maxOutstandingWritebackPages = 2
        let cache = ZCache(configuration: configuration, logger: logger)
        let device = try SwapDevice.create(
            path: try scratchSwapPath(self), pages: 64,
            configuration: faultyDeviceConfiguration(injector))
        try cache.attachSwapDevice(device)
        let entries = try (0..<20).map { try cache.swapOut(versionedPage(id: $0, version: 1)) }
        for _ in 0..<5 { _ = cache.writeback(pageframes: 10) }
        let capReached = cache.statistics.zcache.writebackCapReached
        XCTAssertGreaterThan(capReached, 1)
        XCTAssertEqual(
            handler.entries.filter { "\($0.message)".contains("reached its cap") }.count, 1)
        for entry in entries { _ = try cache.swapIn(entry) }
    }

    func testRefusedSwapHeaderIsLogged() throws {
        let handler = InMemoryLogHandler()
        let path = try scratchSwapPath(self)
        try Data(repeating: 0, count: 8 * pageSize).write(to: URL(fileURLWithPath: path))
        var configuration = SwapDevice.Configuration()
        configuration.logger = Logger(label: "test") { _ in handler }
        XCTAssertThrowsError(try SwapDevice.open(path: path, configuration: configuration))
        XCTAssertEqual(handler.entries.count, 1)
        XCTAssertEqual(handler.entries.first?.level, .warning)
        XCTAssertEqual(handler.entries.first?.metadata["swap_file"], "\(path)")
    }

    /// The snapshot's JSON leaves as `section_key` names, the way the metrics name them.
    private func flattenedJSON(_ statistics: ZCacheStatistics) throws -> [String: Int] {
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(statistics))
                as? [String: [String: Any]])
        var out: [String: Int] = [:]
        for (section, prefix) in [
            ("zcache", "zcache_"), ("zbud", "zbud_"), ("frame_pool", "zcache_frame_pool_"),
            ("allocator", "zcache_allocator_"), ("remote", "zcache_"),
        ] {
            for (key, value) in object[section] ?? [:] where !ZCacheMetrics.ratios.contains(key) {
                if let value = value as? Int { out[prefix + key] = value }
            }
        }
        return out
    }
}
