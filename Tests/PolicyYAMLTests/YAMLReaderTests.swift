import PolicyModel
import PolicyYAML
import XCTest

/// YAML features real policies use: anchors, merges, flow style, several documents,
/// quoted numbers as strings.
final class YAMLReaderTests: XCTestCase {
    private let head = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\n"

    private func policies(_ text: String) -> [TracingPolicy] {
        let r = PolicyLoader.parse(Array(text.utf8), file: "t.yaml")
        XCTAssertTrue(r.isValid, r.diagnostics.map(\.description).joined(separator: "\n"))
        return r.policies
    }

    func testAnchorsAliasesAndMerges() throws {
        let text =
            head + """
                metadata: {name: "anchors"}
                spec:
                  kprobes:
                  - &base
                    call: "fd_install"
                    syscall: false
                    args: [{index: 0, type: int}, {index: 1, type: file}]
                    selectors: &sel
                    - matchArgs: [{index: 1, operator: Prefix, values: ["/etc/"]}]
                  - <<: *base
                    call: "security_file_open"
                    args: [{index: 0, type: file}]
                    selectors:
                    - matchArgs: [{index: 0, operator: Prefix, values: ["/etc/"]}]
                """
        let spec = try XCTUnwrap(policies(text).first?.spec)
        XCTAssertEqual(spec.kprobes.map(\.call), ["fd_install", "security_file_open"])
        XCTAssertEqual(spec.kprobes[1].syscall, false, "merged from the anchor")
        XCTAssertEqual(spec.kprobes[1].common.args.count, 1, "explicit keys win over merged ones")
    }

    func testSeveralDocumentsInOneFile() {
        let one = head + "metadata: {name: a}\nspec: {kprobes: [{call: x}]}\n"
        let two = head + "metadata: {name: b}\nspec: {tracepoints: [{subsystem: sched, event: sched_process_exec}]}\n"
        XCTAssertEqual(policies(one + "---\n" + two + "---\n").map(\.name), ["a", "b"])
    }

    func testQuotedNumbersStayStringsAndYAML11Booleans() throws {
        let text =
            head + """
                metadata:
                  name: quoting
                spec:
                  kprobes:
                  - call: "sys_setuid"
                    syscall: yes
                    args:
                    - index: 0
                      type: "int"
                    selectors:
                    - matchArgs:
                      - index: 0
                        operator: "Equal"
                        values: ["0", 0x10]
                """
        let k = try XCTUnwrap(policies(text).first?.spec.kprobes.first)
        XCTAssertTrue(k.syscall)
        XCTAssertEqual(k.common.selectors[0].matchArgs[0].values, ["0", "0x10"])
    }

    func testBlockScalarsAndComments() throws {
        let text =
            head
            + "metadata:\n  name: block # trailing comment\nspec:\n  kprobes:\n  - call: fd_install\n    syscall: false\n    message: |\n      multi\n      line\n"
        XCTAssertEqual(policies(text).first?.spec.kprobes.first?.common.message, "multi\nline\n")
    }
}
