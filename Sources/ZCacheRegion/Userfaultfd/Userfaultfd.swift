#if os(Linux)
    import CUserfaultfd
    import Glibc
    import ZCache

    /// One userfaultfd descriptor: the handshake, registration, and the ioctls
    /// that resolve faults. A thin layer over the C shim; each method names its
    /// ioctl and returns 0 or -errno, since a failure on the fault path is
    /// counted, not thrown.
    final class Userfaultfd {
        let fd: Int32

        /// The features the region relies on: write-protect faults on anonymous
        /// memory (`UFFD_FEATURE_PAGEFAULT_FLAG_WP`, Linux 5.7), and for the
        /// registered range the COPY, ZEROPAGE, WRITEPROTECT and WAKE ioctls.
        static let requiredFeatures = cuffd_feature_pagefault_flag_wp
        static let requiredRangeIoctls =
            cuffd_ioctl_copy_bit | cuffd_ioctl_zeropage_bit | cuffd_ioctl_writeprotect_bit
            | cuffd_ioctl_wake_bit

        /// `userfaultfd(O_CLOEXEC | O_NONBLOCK)`, then the API handshake. Root (or
        /// `vm.unprivileged_userfaultfd=1`) may handle kernel-mode faults too; an
        /// unprivileged process falls back to `UFFD_USER_MODE_ONLY`, where a
        /// system call reading an unmapped page of the region fails with EFAULT.
        init() throws(ZCacheRegionError) {
            var descriptor = cuffd_open(0)
            if descriptor == -EPERM { descriptor = cuffd_open(1) }
            guard descriptor >= 0 else { throw .userfaultfdUnavailable(errno: -descriptor) }
            fd = descriptor
            var features: UInt64 = 0
            var ioctls: UInt64 = 0
            let rc = cuffd_api(fd, Self.requiredFeatures, &features, &ioctls)
            guard rc == 0 else {
                close(fd)
                if rc == -EINVAL { throw .featureMissing("UFFD_FEATURE_PAGEFAULT_FLAG_WP") }
                throw .systemCall("ioctl(UFFDIO_API)", errno: -rc)
            }
            guard features & Self.requiredFeatures == Self.requiredFeatures else {
                close(fd)
                throw .featureMissing("UFFD_FEATURE_PAGEFAULT_FLAG_WP")
            }
        }

        deinit { close(fd) }

        /// `UFFDIO_REGISTER` for missing-page and write-protect faults, checking
        /// that the range supports every ioctl the region uses.
        func register(_ start: UnsafeMutableRawPointer, length: Int) throws(ZCacheRegionError) {
            var ioctls: UInt64 = 0
            let rc = cuffd_register(
                fd, start, UInt64(length), cuffd_register_mode_missing | cuffd_register_mode_wp,
                &ioctls)
            guard rc == 0 else { throw .systemCall("ioctl(UFFDIO_REGISTER)", errno: -rc) }
            guard ioctls & Self.requiredRangeIoctls == Self.requiredRangeIoctls else {
                _ = cuffd_unregister(fd, start, UInt64(length))
                throw .featureMissing("UFFDIO_COPY/ZEROPAGE/WRITEPROTECT on anonymous memory")
            }
        }

        /// `UFFDIO_UNREGISTER`.
        func unregister(_ start: UnsafeMutableRawPointer, length: Int) {
            _ = cuffd_unregister(fd, start, UInt64(length))
        }

        /// `UFFDIO_COPY` of one page, mapped write-protected if asked; wakes
        /// the waiting threads unless told not to.
        @inline(__always)
        func copy(
            to page: UnsafeMutableRawPointer, from source: UnsafeRawPointer, writeProtect: Bool,
            wake: Bool = true
        ) -> Int32 {
            cuffd_copy(fd, page, source, UInt64(pageSize), writeProtect ? 1 : 0, wake ? 0 : 1)
        }

        /// `UFFDIO_ZEROPAGE` of one page, not waking the faulting threads.
        @inline(__always)
        func mapZeroPageWithoutWaking(_ page: UnsafeMutableRawPointer) -> Int32 {
            cuffd_zeropage_dontwake(fd, page, UInt64(pageSize))
        }

        /// `UFFDIO_WRITEPROTECT` of one page: protecting does not wake,
        /// unprotecting wakes the threads waiting on it.
        @inline(__always)
        func writeProtect(_ page: UnsafeMutableRawPointer, _ protect: Bool) -> Int32 {
            cuffd_writeprotect(fd, page, UInt64(pageSize), protect ? 1 : 0)
        }

        /// `UFFDIO_WAKE` of one page.
        @inline(__always)
        func wake(_ page: UnsafeMutableRawPointer) -> Int32 {
            cuffd_wake(fd, page, UInt64(pageSize))
        }

        /// Reads pending page faults without blocking: how many, or -errno.
        @inline(__always)
        func readFaults(into buffer: UnsafeMutableBufferPointer<cuffd_fault>) -> Int32 {
            cuffd_read_faults(fd, buffer.baseAddress, Int32(buffer.count))
        }
    }

#endif
