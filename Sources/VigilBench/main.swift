import Foundation
import PolicyYAML

// vigil-bench: benchmarks that print figures (never part of the test suite).
//   swift run -c release vigil-bench policy-parse [DIR]
// Results and the command are recorded in BENCHMARKS.md.

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

/// Parse + validate every policy under DIR, many rounds; baseline: reading the same bytes.
func policyParse(_ dir: String) {
    var files: [(String, [UInt8])] = []
    let walker = FileManager.default.enumerator(atPath: dir)
    while let rel = walker?.nextObject() as? String {
        guard rel.hasSuffix(".yaml") || rel.hasSuffix(".yml") else { continue }
        let path = dir + "/" + rel
        if let d = FileManager.default.contents(atPath: path) { files.append((path, [UInt8](d))) }
    }
    files.sort { $0.0 < $1.0 }
    guard !files.isEmpty else { print("no policies under \(dir)"); exit(1) }
    var parse: [Double] = []
    var load: [Double] = []
    var policies = 0
    for round in 0..<31 {
        var t = now()
        for (path, _) in files { _ = FileManager.default.contents(atPath: path) }
        load.append(Double(now() - t) / 1e6)
        t = now()
        var n = 0
        for (path, bytes) in files {
            let r = PolicyLoader.parse(bytes, file: path)
            if !r.isValid { print("invalid: \(path)"); exit(1) }
            n += r.policies.count
        }
        parse.append(Double(now() - t) / 1e6)
        if round == 0 { policies = n }
    }
    print("policy-parse: \(files.count) files, \(policies) policies, 31 rounds")
    print(String(format: "  parse+validate (in memory): median %.2f ms  min %.2f  max %.2f  (target < 50 ms)", median(parse), parse.min()!, parse.max()!))
    print(String(format: "  baseline, reading the files:  median %.2f ms", median(load)))
    print(String(format: "  per policy: %.1f us", median(parse) * 1000 / Double(policies)))
}

let args = CommandLine.arguments.dropFirst()
switch args.first {
case "policy-parse":
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    policyParse(args.dropFirst().first ?? here.appendingPathComponent("Tests/PolicyYAMLTests/Fixtures/conformance").path)
default:
    print("usage: vigil-bench policy-parse [DIR]")
    exit(2)
}
