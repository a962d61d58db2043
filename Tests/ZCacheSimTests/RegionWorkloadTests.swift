// `zcache-sim region`'s workload on a small region: the memory image and the
// hash table read back exactly, under both reclaim policies and both kinds of
// gets, and the report's figures agree with each other.

import XCTest
import ZCache
import ZCacheRegion

@testable import ZCacheSim

final class RegionWorkloadTests: XCTestCase {
    private func run(_ configure: (inout RegionWorkloadOptions) -> Void) throws
        -> RegionWorkloadReport
    {
        var options = RegionWorkloadOptions()
        options.pages = 256
        options.residentLimit = 32
        options.lookups = 5000
        options.windowAccesses = 50_000
        configure(&options)
        do {
            return try RegionWorkload.run(options)
        } catch {
            if case .region(let regionError) = error {
                switch regionError {
                case .unsupported, .userfaultfdUnavailable, .featureMissing:
                    XCTFail("userfaultfd region unavailable: \(regionError)")
                default: break
                }
            }
            throw error
        }
    }

    private func check(_ report: RegionWorkloadReport) {
        XCTAssertEqual(report.imagePagesChecked, 256)
        XCTAssertEqual(report.imagePagesWrong, 0)
        XCTAssertEqual(report.valuesChecked, 5000)
        XCTAssertEqual(report.valuesWrong, 0)
        XCTAssertEqual(report.windowAccesses, 50_000)
        XCTAssertEqual(report.windowReadsWrong, 0)
        XCTAssertGreaterThan(report.windowFaults, 0)
        XCTAssertEqual(report.region.lostPages, 0)
        XCTAssertNil(report.region.lastError)
        XCTAssertLessThanOrEqual(report.region.residentPagesMax, 32)
        XCTAssertLessThanOrEqual(report.imageKernelResidentPages, 32)
        XCTAssertEqual(report.imageKernelResidentPages, report.imageResidentPages)
        XCTAssertGreaterThan(report.hashFaults, 0)
        XCTAssertGreaterThan(report.bareLZ4DecompressMedianNanoseconds, 0)
        XCTAssertFalse(RegionWorkload.table(report).isEmpty)
    }

    func testClockWithExclusiveGets() throws {
        check(try run { _ in })
    }

    func testFIFOKeepingCopies() throws {
        let report = try run {
            $0.policy = .fifo
            $0.exclusiveGets = false
        }
        check(report)
        XCTAssertEqual(report.region.secondChances, 0)
    }

    func testHashTableFindsWhatItInserted() {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 100, alignment: 64)
        defer { memory.deallocate() }
        let table = RegionHashTable(memory)
        table.clear()
        var value = [UInt8](repeating: 0, count: RegionHashTable.valueSize)
        var dictionary: [UInt64: [UInt8]] = [:]
        for i in 0..<70 {
            let key = RegionHashTable.key(i, seed: 3)
            value[0] = UInt8(i)
            value[55] = UInt8(i * 3 & 0xff)
            table.insert(key: key, value: value)
            dictionary[key] = value
        }
        for i in 0..<140 {
            let key = RegionHashTable.key(i, seed: 3)
            XCTAssertEqual(table.lookup(key: key, into: &value), dictionary[key] != nil)
            if let expected = dictionary[key] { XCTAssertEqual(value, expected) }
        }
    }
}
