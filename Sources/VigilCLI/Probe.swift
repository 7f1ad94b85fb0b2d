import ArgumentParser
import Foundation
import KernelFeatures

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil probe`: what the running kernel offers, and the hook tiers Vigil will use.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report what the running kernel offers by loading and attaching small BPF programs.",
        discussion: "Needs root. Mounts bpffs, tracefs and securityfs if they are missing."
    )

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() throws {
        guard geteuid() == 0 else {
            FileHandle.standardError.write(Data("vigil probe: needs root (BPF loads need CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN); run it with sudo\n".utf8))
            throw ExitCode(1)
        }
        let report = KernelReport.gather()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text, terminator: "")
        }
    }
}
