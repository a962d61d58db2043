// The Linux swap header, version 1 (include/linux/swap.h, `union swap_header`).
//
//   byte    0 .. 1023   bootbits (left zero)
//   byte 1024           u32 version          (1)
//   byte 1028           u32 last_page        (the last usable slot; pages - 1)
//   byte 1032           u32 nr_badpages
//   byte 1036 .. 1051   sws_uuid[16]
//   byte 1052 .. 1067   sws_volume[16]       (label, NUL-padded; 16 bytes need no NUL)
//   byte 1068 .. 1535   padding[117]
//   byte 1536 ..        badpages[]           (nr_badpages u32 slot numbers)
//   byte 4086 .. 4095   "SWAPSPACE2"
//
// Integers are in the machine's byte order, as mkswap writes them; this module
// reads and writes little-endian (every platform Swift on Linux runs on), so a
// header from a big-endian machine shows up as an unsupported version.

import Foundation
import ZCacheSupport

/// The header in page 0 of a Linux swap file (version 1).
public struct SwapHeader: Sendable, Equatable {
    /// The signature in the last 10 bytes of page 0.
    public static let magic = "SWAPSPACE2"
    /// Byte offsets of the fields in page 0.
    static let versionOffset = 1024
    static let lastPageOffset = 1028
    static let badPagesOffset = 1032
    static let uuidOffset = 1036
    static let labelOffset = 1052
    static let labelCapacity = 16
    static let magicLength = 10

    /// Signatures other programs leave where the magic belongs (as blkid knows them).
    static let foreignSignatures = [
        "SWAP-SPACE", "S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001",
    ]

    /// The header version; always 1 for a header this module accepts.
    public let version: UInt32
    /// The last usable slot: the file holds slots `1...lastPage` after the header.
    public let lastPage: UInt32
    /// The number of bad pages listed; always 0 for a header this module accepts.
    public let badPages: UInt32
    /// The swap area's UUID, as `blkid` and `swaplabel` print it.
    public let uuid: UUID
    /// The volume label (up to 16 bytes of UTF-8; empty for none).
    public let label: String

    /// A version 1 header with no bad pages.
    ///
    /// - Throws: `.labelTooLong` when `label` takes more than 16 bytes of UTF-8.
    public init(lastPage: UInt32, uuid: UUID = UUID(), label: String = "") throws(SwapDeviceError)
    {
        guard label.utf8.count <= Self.labelCapacity else { throw .labelTooLong }
        self.init(version: 1, lastPage: lastPage, badPages: 0, uuid: uuid, label: label)
    }

    private init(version: UInt32, lastPage: UInt32, badPages: UInt32, uuid: UUID, label: String) {
        self.version = version
        self.lastPage = lastPage
        self.badPages = badPages
        self.uuid = uuid
        self.label = label
    }

    /// Reads the header from page 0 of a swap file of `fileSize` bytes.
    ///
    /// The checks run in the order the kernel's `read_swap_header` makes them: size,
    /// magic, version, last page against the file's end, bad pages.
    public static func parse(_ page: UnsafeRawBufferPointer, fileSize: Int64)
        throws(SwapDeviceError) -> SwapHeader
    {
        guard page.count >= pageSize, fileSize >= Int64(2 * pageSize) else { throw .tooSmall }
        let magicBytes = page[(pageSize - magicLength)..<pageSize]
        guard magicBytes.elementsEqual(magic.utf8) else {
            for signature in foreignSignatures where magicBytes.starts(with: signature.utf8) {
                throw .foreignMagic(signature)
            }
            throw .noSwapMagic
        }
        let version = page.loadLittleEndianUInt32(at: versionOffset)
        guard version == 1 else { throw .unsupportedVersion(version) }
        let lastPage = page.loadLittleEndianUInt32(at: lastPageOffset)
        guard lastPage > 0 else { throw .tooSmall }
        guard Int64(lastPage) < fileSize / Int64(pageSize) else { throw .lastPageBeyondEnd }
        let badPages = page.loadLittleEndianUInt32(at: badPagesOffset)
        guard badPages == 0 else { throw .badPagesListed(Int(badPages)) }

        let uuid = UUID(uuid: page.loadUnaligned(fromByteOffset: uuidOffset, as: uuid_t.self))
        let labelField = page[labelOffset..<(labelOffset + labelCapacity)]
        let labelBytes = labelField.prefix { $0 != 0 }
        let label = String(decoding: labelBytes, as: UTF8.self)
        return SwapHeader(
            version: version, lastPage: lastPage, badPages: badPages, uuid: uuid, label: label)
    }

    /// Writes the header as page 0: zeros, the fields, and the magic.
    ///
    /// - Precondition: `page` holds at least 4096 bytes.
    public func serialize(into page: UnsafeMutableRawBufferPointer) {
        precondition(page.count >= pageSize, "a swap header needs a whole page")
        page.initializeMemory(as: UInt8.self, repeating: 0)
        page.storeBytes(of: version.littleEndian, toByteOffset: Self.versionOffset, as: UInt32.self)
        page.storeBytes(
            of: lastPage.littleEndian, toByteOffset: Self.lastPageOffset, as: UInt32.self)
        page.storeBytes(
            of: badPages.littleEndian, toByteOffset: Self.badPagesOffset, as: UInt32.self)
        withUnsafeBytes(of: uuid.uuid) { raw in
            for (index, byte) in raw.enumerated() { page[Self.uuidOffset + index] = byte }
        }
        for (index, byte) in label.utf8.prefix(Self.labelCapacity).enumerated() {
            page[Self.labelOffset + index] = byte
        }
        for (index, byte) in Self.magic.utf8.enumerated() {
            page[pageSize - Self.magicLength + index] = byte
        }
    }

    /// The header as a 4096-byte page.
    public func serialized() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: pageSize)
        bytes.withUnsafeMutableBytes { serialize(into: $0) }
        return bytes
    }
}

extension UnsafeRawBufferPointer {
    fileprivate func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
