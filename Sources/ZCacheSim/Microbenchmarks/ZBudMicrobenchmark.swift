// Microbenchmark of the ZBud module, run by `zcache-sim microbench zbud`.
// (Filled in with the module.)

/// Measures the ZBud module on its own and returns a printable report.
public enum ZBudMicrobenchmark {
    public static func run(corpus: [String]) throws -> String {
        "ZBud microbenchmark: not written yet"
    }
}
