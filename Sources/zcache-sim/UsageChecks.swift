// What every subcommand uses to refuse misuse before any work: the checks of
// ZCacheSim's `OptionChecks` (bounded integers, fractions, corpora, output
// paths) turned into ArgumentParser validation errors, the negative-number
// rule, and one-line error output.
//
//   func validate() throws {
//       try UsageChecks.check {
//           try OptionChecks.bounded(threads, 1...256, option: "--threads")
//           try OptionChecks.outputPath(report, option: "--report")
//       }
//   }

import ArgumentParser
import Foundation
import ZCacheSim

#if canImport(Glibc)
    import Glibc
#endif

enum UsageChecks {
    /// Runs `checks`; any error becomes a `ValidationError` with the error's
    /// own one-line description (exit status 64).
    static func check(_ checks: () throws -> Void) throws {
        do {
            try checks()
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError(String(describing: error))
        }
    }

    /// `--name -5` becomes `--name=-5`. No option of this tool is a short flag
    /// spelled as a digit, so a word that looks like a negative number can only
    /// be a value; ArgumentParser would take it for an unknown option and say
    /// "Missing value", and the option's own bounds would never see it.
    static func attachNegativeNumbers(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" {
                result.append(contentsOf: arguments[index...])
                break
            }
            if word.hasPrefix("--"), !word.contains("="), index + 1 < arguments.count,
                looksNegative(arguments[index + 1])
            {
                result.append(word + "=" + arguments[index + 1])
                index += 2
                continue
            }
            result.append(word)
            index += 1
        }
        return result
    }

    private static func looksNegative(_ word: String) -> Bool {
        let rest = word.utf8.dropFirst()
        return word.hasPrefix("-") && !word.hasPrefix("--")
            && rest.first.map {
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".")
            }
                == true
    }

    /// Help and `--version` as ArgumentParser prints them; any error as its
    /// first line only ("Error: ..."), on standard error, with ArgumentParser's
    /// exit status (64 for usage, 1 otherwise, or the `ExitCode` thrown).
    static func exit(with error: Error, of command: any ParsableCommand.Type) -> Never {
        let code = command.exitCode(for: error)
        guard code != .success else { command.exit(withError: error) }
        let message = command.fullMessage(for: error)
        if let line = message.split(separator: "\n").first(where: { !$0.isEmpty }) {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        Foundation.exit(code.rawValue)
    }

    /// A one-line error after the work is done (the summary already printed):
    /// standard error, then the given exit status.
    static func fail(_ message: String, status: Int32) -> ExitCode {
        FileHandle.standardError.write(Data(("Error: " + message + "\n").utf8))
        return ExitCode(status)
    }
}

/// The tool's version (`zcache-sim --version`).
enum ZCacheSimVersion {
    static let current = "0.1.0"
}
