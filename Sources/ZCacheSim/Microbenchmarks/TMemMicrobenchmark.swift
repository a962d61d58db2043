// Microbenchmark of the TMem module, run by `zcache-sim microbench tmem`.
// (Filled in with the module.)

/// Measures the TMem module on its own and returns a printable report.
public enum TMemMicrobenchmark {
    public static func run(corpus: [String]) throws -> String {
        "TMem microbenchmark: not written yet"
    }
}
