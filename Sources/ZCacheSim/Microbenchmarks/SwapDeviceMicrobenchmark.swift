// Microbenchmark of the SwapDevice module, run by `zcache-sim microbench swapdevice`.
// (Filled in with the module.)

/// Measures the SwapDevice module on its own and returns a printable report.
public enum SwapDeviceMicrobenchmark {
    public static func run(corpus: [String]) throws -> String {
        "SwapDevice microbenchmark: not written yet"
    }
}
