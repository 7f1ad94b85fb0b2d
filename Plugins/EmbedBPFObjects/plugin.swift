import Foundation
import PackagePlugin

/// Compiles the eBPF programs under `bpf/` with `clang -target bpf` and embeds the objects
/// in the target it is applied to, so `swift build` alone produces a `vigil` binary that
/// needs no source tree at run time.
///
/// Target `BPFTestObjects` gets `bpf/tests/*.bpf.c` (fixtures for kernel tests); every
/// other target gets `bpf/progs/*.bpf.c`. The work is done by `bpf/build.sh`, which the
/// README also documents for running by hand.
@main
struct EmbedBPFObjects: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let bpf = root.appending(path: "bpf")
        let sourceDir = bpf.appending(path: target.name == "BPFTestObjects" ? "tests" : "progs")
        let work = context.pluginWorkDirectoryURL
        let generated = work.appending(path: "GeneratedObjects.swift")

        var inputs = [bpf.appending(path: "build.sh")]
        for dir in [sourceDir, bpf.appending(path: "include"), root.appending(path: "Sources/CVigilABI/include")] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            inputs += names.filter { $0.hasSuffix(".c") || $0.hasSuffix(".h") }.sorted().map { dir.appending(path: $0) }
        }

        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = (environment["PATH"].map { $0 + ":" } ?? "") + "/usr/sbin:/sbin:/usr/bin:/bin"
        return [
            .buildCommand(
                displayName: "Compiling eBPF objects in \(sourceDir.lastPathComponent) for \(target.name)",
                executable: URL(fileURLWithPath: "/bin/bash"),
                arguments: [
                    bpf.appending(path: "build.sh").path,
                    "--src", sourceDir.path,
                    "--out", work.appending(path: "objects").path,
                    "--swift", generated.path,
                ],
                environment: environment,
                inputFiles: inputs,
                outputFiles: [generated]
            )
        ]
    }
}
