import PolicyYAML

// Fuzz target for the policy parser and validator.
//
// Built for fuzzing by scripts/fuzz-policy (`-sanitize=fuzzer,address -DVIGIL_FUZZ
// -parse-as-library`), libFuzzer drives `LLVMFuzzerTestOneInput`. Built normally it is a
// replay tool: `vigil-fuzz-policy FILE...` runs each file through the same entry point, to
// reproduce a crash the fuzzer saved.

/// One input through the whole front end: YAML reader, decoding, validation.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let result = PolicyLoader.parse(bytes, file: "fuzz.yaml")
    // Invariants: an invalid file yields no policies, and every diagnostic has a position.
    precondition(result.isValid || result.policies.isEmpty)
    for d in result.diagnostics { precondition(d.mark.line >= 1 && d.mark.column >= 1) }
    return 0
}

#if !VIGIL_FUZZ
    import Foundation

    /// Replay mode (normal builds): run saved inputs through the fuzz entry point.
    @main
    struct ReplayFuzzInputs {
        static func main() {
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("vigil-fuzz-policy: cannot read \(path)\n".utf8))
                    exit(1)
                }
                let bytes = [UInt8](data)
                _ = bytes.withUnsafeBufferPointer { fuzzPolicy($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
                print("\(path): ok")
            }
        }
    }
#endif

#if VIGIL_FUZZ
    /// libFuzzer's entry for programs that own `main` (LLVM 11+).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    /// SwiftPM links executables through `<module>_main` instead of `main`, which displaces
    /// libFuzzer's own main: hand control to libFuzzer's driver from there.
    @_cdecl("PolicyFuzz_main")
    func policyFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv) { fuzzPolicy($0, $1) }
    }
#endif
