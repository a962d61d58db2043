// Fuzz targets for ZCache (issue 9), one executable with two targets chosen by
// ZCACHE_FUZZ_TARGET (`ops`, the default, or `header`):
//
//   ops     the input is decoded into a sequence of API operations on a small
//           cache with writeback to a swap device (swapOut / swapIn / swapFree,
//           cleancache put / get / invalidations, direct frontswap store / load
//           with wild types and offsets, wrong page sizes, destroyed pools,
//           shrinker scans, writeback, eviction, freeze), checked against a
//           model; at the end everything is swapped in or destroyed and every
//           frame and slot must be back.
//   header  the input patches a valid swap header (and picks the file size):
//           SwapHeader.parse must return or throw a typed error, and a header
//           it accepts must open as a SwapDevice with that geometry.
//
// Built with libFuzzer (scripts/fuzz):
//   swift build --product ZCacheFuzz -Xswiftc -sanitize=fuzzer,address \
//       -Xswiftc -DZCACHE_LIBFUZZER --scratch-path .build-fuzz
// Without ZCACHE_LIBFUZZER the same target is a seeded random driver:
//   swift run ZCacheFuzz [iterations] [seed] [ops|header]
// A failed check traps (so libFuzzer saves the input).

import Foundation
import ZCache

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the fuzz input as a stream of small numbers; zeros once exhausted.
struct InputReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    var isAtEnd: Bool { position >= bytes.count }

    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return position < bytes.count ? bytes[position] : 0
    }

    mutating func u16() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }
    mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
}

func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(Data("ZCacheFuzz: check failed: \(message())\n".utf8))
        abort()
    }
}

/// A page fully determined by (kind, seed): zero, compressible or incompressible.
func makePage(kind: UInt8, seed: UInt32) -> [UInt8] {
    var page = [UInt8](repeating: 0, count: pageSize)
    switch kind % 4 {
    case 0:
        break  // zero-filled
    case 1, 2:
        // Compressible: a short repeating pattern with the seed stamped in.
        page.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: pageSize, by: 64) {
                raw.storeBytes(
                    of: seed &+ UInt32(i / 64 % Int(kind % 8 + 1)), toByteOffset: i, as: UInt32.self
                )
            }
        }
    default:
        // Incompressible: xorshift bytes.
        var x = UInt64(seed) | 1
        page.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: pageSize, by: 8) {
                x ^= x << 13
                x ^= x >> 7
                x ^= x << 17
                raw.storeBytes(of: x, toByteOffset: i, as: UInt64.self)
            }
        }
    }
    return page
}

/// This process's directory for its swap files.
func scratchPath() -> String { NSTemporaryDirectory() + "zcache-fuzz-\(getpid())" }

let scratchDirectory: String = {
    let path = scratchPath()
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    // Gone when the process exits (libFuzzer ends a timed run with exit()):
    // nothing a run creates outlives it. A crash keeps it, beside its input.
    atexit { try? FileManager.default.removeItem(atPath: scratchPath()) }
    return path
}()

/// Runs one ops input.
func fuzzOperations(_ input: UnsafeBufferPointer<UInt8>) {
    var reader = InputReader(bytes: input)
    var configuration = ZCacheConfiguration()
    // One byte sizes the pool and, by its top bit, picks the allocator.
    let sizing = reader.byte()
    configuration.pageframes = Int(sizing % 12) + 2
    configuration.allocator =
        ZCacheAllocatorKind.allCases[Int(sizing >> 7) % ZCacheAllocatorKind.allCases.count]
    configuration.maxOutstandingWritebackPages = Int(reader.byte() % 8)
    configuration.compressor =
        CompressorKind.allCases[Int(reader.byte()) % CompressorKind.allCases.count]
    configuration.exclusiveGets = true
    let cache = ZCache(configuration: configuration)
    var deviceConfiguration = SwapDevice.Configuration()
    deviceConfiguration.ioWorkers = 1
    deviceConfiguration.queueDepth = 8
    deviceConfiguration.syscalls.fsync = { _ in 0 }
    let failWrites = reader.byte() % 4 == 0  // every write fails: pages stay in the swap cache
    if failWrites {
        // The header (offset 0) is written; every slot write fails.
        let real = deviceConfiguration.syscalls.pwrite
        deviceConfiguration.syscalls.pwrite = { fd, buffer, offset in
            offset == 0 ? real(fd, buffer, offset) : -Int(EIO)
        }
    }
    let path = scratchDirectory + "/ops.swap"
    guard
        let device = try? SwapDevice.create(
            path: path, pages: 24, configuration: deviceConfiguration)
    else { return check(false, "swap device create failed") }
    defer { device.close() }
    check((try? cache.attachSwapDevice(device)) != nil, "attach failed")
    check((try? cache.frontswapInit(type: 1)) != nil, "frontswapInit(1) failed")

    var swapped: [(SwapEntry, [UInt8])] = []
    var files: [UInt32: [UInt8]] = [:]  // index (file = index / 8) -> page
    var direct: [UInt64: [UInt8]] = [:]  // frontswap type 1 offsets -> page
    guard var fs = try? cache.cleancacheInitFilesystem() else { return check(false, "fs init") }
    var out = [UInt8](repeating: 0, count: pageSize)

    func fileKey(_ b: UInt8) -> (ObjectID, UInt32, UInt32) {
        let slot = UInt32(b % 32)
        return (ObjectID(UInt64(slot / 8)), slot % 8, slot)
    }

    var steps = 0
    while !reader.isAtEnd && steps < 400 {
        steps += 1
        let op = reader.byte()
        switch op % 16 {
        case 0:
            let page = makePage(kind: reader.byte(), seed: UInt32(reader.u16()))
            do {
                let entry = try page.withUnsafeBytes {
                    try cache.swapOut(page: $0, type: 0, wasActive: op & 0x80 == 0)
                }
                swapped.append((entry, page))
            } catch ZCacheError.swapDeviceFull {
            } catch { check(false, "swapOut threw \(error)") }
        case 1, 2:
            guard !swapped.isEmpty else { continue }
            let i = Int(reader.byte()) % swapped.count
            let (entry, page) = swapped[i]
            if op % 16 == 1 {
                do {
                    _ = try out.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
                    check(out == page, "swapIn \(entry) returned wrong bytes")
                    swapped.remove(at: i)
                } catch { check(false, "swapIn threw \(error)") }
            } else {
                cache.swapFree(entry)
                swapped.remove(at: i)
            }
        case 3:
            let (file, index, slot) = fileKey(reader.byte())
            let page = makePage(kind: reader.byte(), seed: UInt32(reader.u16()))
            do {
                let stored = try page.withUnsafeBytes {
                    try cache.cleancachePut(
                        fs, file: file, index: index, page: $0, wasActive: op & 0x80 == 0)
                }
                files[slot] = stored ? page : nil
            } catch { check(false, "cleancachePut threw \(error)") }
        case 4:
            let (file, index, slot) = fileKey(reader.byte())
            do {
                let hit = try out.withUnsafeMutableBytes {
                    try cache.cleancacheGet(fs, file: file, index: index, into: $0)
                }
                if hit { check(files[slot] == out, "cleancacheGet returned wrong or stale bytes") }
                files[slot] = nil
            } catch { check(false, "cleancacheGet threw \(error)") }
        case 5:
            let (file, index, slot) = fileKey(reader.byte())
            check(
                (try? cache.cleancacheInvalidatePage(fs, file: file, index: index)) != nil,
                "invalidate page")
            files[slot] = nil
        case 6:
            let file = UInt32(reader.byte() % 4)
            check(
                (try? cache.cleancacheInvalidateInode(fs, file: ObjectID(UInt64(file)))) != nil,
                "invalidate inode")
            for slot in (file * 8)..<(file * 8 + 8) { files[slot] = nil }
        case 7:
            let old = fs
            check((try? cache.cleancacheInvalidateFilesystem(fs)) != nil, "invalidate fs")
            files.removeAll()
            // The destroyed pool is an error (until its id is reused below).
            do {
                _ = try out.withUnsafeMutableBytes {
                    try cache.cleancacheGet(old, file: ObjectID(0), index: 0, into: $0)
                }
                check(false, "get on a destroyed filesystem succeeded")
            } catch ZCacheError.tmem(.unknownPool) {
            } catch { check(false, "get on a destroyed filesystem threw \(error)") }
            guard let again = try? cache.cleancacheInitFilesystem() else {
                return check(false, "fs re-init")
            }
            fs = again
        case 8:
            let n = Int(reader.byte() % 16)
            cache.shrinkerScan(
                counts: HostLRUCounts(
                    activeFile: n, inactiveFile: Int(reader.byte() % 8),
                    activeAnon: Int(reader.byte() % 16), inactiveAnon: 0))
        case 9:
            cache.writeback(pageframes: Int(reader.byte() % 4))
        case 10:
            cache.evictEphemeralPageframes(Int(reader.byte() % 4))
        case 11:
            if cache.isFrozen { cache.unfreeze() } else { cache.freeze() }
        case 12:
            // Direct frontswap on type 1 (no device), with wild types and offsets.
            let wild = reader.byte()
            let offset = UInt64(reader.byte() % 16)
            let page = makePage(kind: reader.byte(), seed: UInt32(wild))
            if wild % 4 == 0 {
                let badType = Int(Int8(bitPattern: wild)) * 7 + 32 * (wild % 8 == 0 ? 1 : -1)
                do {
                    _ = try page.withUnsafeBytes {
                        try cache.frontswapStore(type: badType, offset: offset, page: $0)
                    }
                    check(false, "frontswapStore on type \(badType) succeeded")
                } catch ZCacheError.invalidSwapType, ZCacheError.swapTypeNotInitialised {
                } catch { check(false, "frontswapStore bad type threw \(error)") }
            } else if wild % 4 == 1 {
                do {
                    _ = try page.withUnsafeBytes {
                        try cache.frontswapStore(type: 1, offset: UInt64.max - offset, page: $0)
                    }
                    check(false, "frontswapStore at a huge offset succeeded")
                } catch ZCacheError.invalidSwapOffset {
                } catch { check(false, "frontswapStore huge offset threw \(error)") }
            } else {
                do {
                    let result = try page.withUnsafeBytes {
                        try cache.frontswapStore(type: 1, offset: offset, page: $0)
                    }
                    direct[offset] = result.isStored ? page : nil
                } catch { check(false, "frontswapStore threw \(error)") }
            }
        case 13:
            let offset = UInt64(reader.byte() % 16)
            do {
                let hit = try out.withUnsafeMutableBytes {
                    try cache.frontswapLoad(type: 1, offset: offset, into: $0)
                }
                // A persistent page stays until loaded (exclusive) or invalidated.
                check(
                    hit == (direct[offset] != nil),
                    "frontswapLoad hit \(hit), model \(direct[offset] != nil)")
                if hit { check(direct[offset] == out, "frontswapLoad returned wrong bytes") }
                direct[offset] = nil
            } catch { check(false, "frontswapLoad threw \(error)") }
        case 14:
            // Pages of the wrong size everywhere.
            let size = [0, 1, pageSize - 1, pageSize + 1][Int(reader.byte() % 4)]
            var wrong = [UInt8](repeating: 1, count: size)
            let (file, index, _) = fileKey(reader.byte())
            let errors = [
                { try wrong.withUnsafeBytes { _ = try cache.swapOut(page: $0, type: 0) } },
                {
                    try wrong.withUnsafeBytes {
                        _ = try cache.cleancachePut(fs, file: file, index: index, page: $0)
                    }
                },
                {
                    try wrong.withUnsafeMutableBytes {
                        _ = try cache.cleancacheGet(fs, file: file, index: index, into: $0)
                    }
                },
                {
                    try wrong.withUnsafeBytes {
                        _ = try cache.frontswapStore(type: 1, offset: 3, page: $0)
                    }
                },
            ].map { body -> Bool in
                do { try body(); return false } catch let error as ZCacheError {
                    return error == .pageNotOnePage(size)
                } catch { return false }
            }
            check(errors.allSatisfy { $0 }, "a wrong page size was not pageNotOnePage(\(size))")
            _ = wrong.count
        default:
            let offset = UInt64(reader.byte() % 16)
            check(
                (try? cache.frontswapInvalidatePage(type: 1, offset: offset)) != nil,
                "frontswap invalidate")
            direct[offset] = nil
        }
        if steps % 16 == 0 {
            cache.waitForWriteback()
            check(cache.checkFrameAccounting(), "frame accounting after step \(steps)")
        }
    }
    cache.unfreeze()
    // Everything comes back, then everything is released.
    for (entry, page) in swapped {
        do {
            _ = try out.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
            check(out == page, "final swapIn \(entry) returned wrong bytes")
        } catch { check(false, "final swapIn threw \(error)") }
    }
    for (offset, page) in direct {
        let hit =
            (try? out.withUnsafeMutableBytes {
                try cache.frontswapLoad(type: 1, offset: offset, into: $0)
            }) ?? false
        check(hit && out == page, "final frontswapLoad of \(offset)")
    }
    check((try? cache.frontswapInvalidateArea(type: 1)) != nil, "invalidate area")
    check((try? cache.cleancacheInvalidateFilesystem(fs)) != nil, "final invalidate fs")
    cache.waitForWriteback()
    for _ in 0..<2000 where device.swapCache.count > 0 {
        usleep(100)
        cache.waitForWriteback()
    }
    let stats = cache.statistics
    check(cache.checkFrameAccounting(), "final frame accounting")
    check(
        stats.framePool.framesInUse == 0, "\(stats.framePool.framesInUse) frames in use at the end")
    check(device.slots.usedSlots == 0, "\(device.slots.usedSlots) slots in use at the end")
    check(device.swapCache.count == 0, "\(device.swapCache.count) swap-cache pages at the end")
    check(stats.zcache.persZPages == 0 && stats.zcache.ephZPages == 0, "zpages left at the end")
}

/// Runs one header input.
func fuzzHeader(_ input: UnsafeBufferPointer<UInt8>) {
    var reader = InputReader(bytes: input)
    let pages = Int(reader.byte() % 20)
    let extra = Int(reader.u16() % UInt16(pageSize))
    let fileSize = Int64(pages * pageSize + (reader.byte() & 1 == 0 ? 0 : extra))
    guard
        var page = try? SwapHeader(lastPage: UInt32(reader.byte() % 24), label: "fuzz").serialized()
    else { return check(false, "header init") }
    // The rest is (offset, value) patches, biased to the header's fields.
    while !reader.isAtEnd {
        let raw = Int(reader.u16())
        let offset = raw & 0x8000 != 0 ? 1024 + raw % 48 : raw % pageSize
        page[offset] = reader.byte()
    }
    let parsed: SwapHeader
    do {
        parsed = try page.withUnsafeBytes { try SwapHeader.parse($0, fileSize: fileSize) }
    } catch {
        // Typed, by construction of `throws(SwapDeviceError)`; also through open.
        if pages <= 20 && input.count % 7 == 0 { _ = openFile(page, size: fileSize) }
        return
    }
    check(parsed.version == 1 && parsed.badPages == 0, "parse accepted a bad version or bad pages")
    check(
        parsed.lastPage > 0 && Int64(parsed.lastPage) < fileSize / Int64(pageSize),
        "parse accepted a bad last_page")
    check(parsed.label.utf8.count <= 16 * 3, "label too long")
    // What parse accepts, open accepts, with the same geometry.
    switch openFile(page, size: fileSize) {
    case .success(let slots):
        check(slots == Int(parsed.lastPage) + 1, "open disagrees with parse on size")
    case .failure(let error): check(false, "parse accepted what open rejects: \(error)")
    }
}

func openFile(_ page: [UInt8], size: Int64) -> Result<Int, SwapDeviceError> {
    let path = scratchDirectory + "/header.swap"
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return .failure(.io(op: "open", errno: errno)) }
    _ = page.withUnsafeBytes { pwrite(fd, $0.baseAddress, min(Int(size), pageSize), 0) }
    _ = ftruncate(fd, off_t(size))
    close(fd)
    var configuration = SwapDevice.Configuration()
    configuration.ioWorkers = 1
    do throws(SwapDeviceError) {
        let device = try SwapDevice.open(path: path, configuration: configuration)
        defer { device.close() }
        return .success(device.slotCount)
    } catch {
        return .failure(error)
    }
}

let fuzzTarget = ProcessInfo.processInfo.environment["ZCACHE_FUZZ_TARGET"] ?? "ops"

func fuzzOne(_ input: UnsafeBufferPointer<UInt8>, target: String = fuzzTarget) {
    if target == "header" { fuzzHeader(input) } else { fuzzOperations(input) }
}

#if ZCACHE_LIBFUZZER
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        fuzzOne(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }

    // SwiftPM links an executable with `main` aliased to `<module>_main`; hand
    // that to libFuzzer's driver (libFuzzer's own `main` is then unused).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("ZCacheFuzz_main")
    public func zcacheFuzzMain(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> CInt {
        var count = argc
        var vector = argv
        return LLVMFuzzerRunDriver(&count, &vector) { data, size in
            fuzzOne(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
            return 0
        }
    }
#else
    /// The seeded random driver: random inputs of random length through the same
    /// targets, or the files named on the command line (a libFuzzer corpus).
    @main
    enum ZCacheFuzzDriver {
        static func main() {
            var arguments = Array(CommandLine.arguments.dropFirst())
            let target =
                arguments.last.flatMap { ["ops", "header"].contains($0) ? $0 : nil } ?? fuzzTarget
            if arguments.last == target { arguments.removeLast() }
            if let first = arguments.first, FileManager.default.fileExists(atPath: first) {
                for path in arguments {
                    let data = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
                    data.withUnsafeBufferPointer { fuzzOne($0, target: target) }
                }
                print("ZCacheFuzz: \(arguments.count) inputs (\(target)) passed")
                return
            }
            let iterations = arguments.first.flatMap { Int($0) } ?? 2000
            var state = arguments.dropFirst().first.flatMap { UInt64($0) } ?? 1
            func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            for _ in 0..<iterations {
                let length = Int(next() % 512)
                let input = (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
                input.withUnsafeBufferPointer { fuzzOne($0, target: target) }
            }
            print("ZCacheFuzz: \(iterations) random inputs (\(target)) passed")
        }
    }
#endif
