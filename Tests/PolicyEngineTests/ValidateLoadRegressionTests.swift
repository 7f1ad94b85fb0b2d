import CVigilABI
import PolicyEngine
import PolicyModel
import PolicyYAML
import XCTest

/// The cases where `vigil policy validate` said ok and the load then failed (issue 20), each
/// now accepted by both and compiled to what it means.
final class ValidateLoadRegressionTests: XCTestCase {
    /// A kprobe on a fully featured kernel profile with one matchArgs entry.
    func compiled(type: String, op: String, values: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (vigil_arg_filter, HookPlan) {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: r}
            spec:
              kprobes:
              - call: fn
                syscall: false
                args: [{index: 0, type: \(type)}]
                selectors:
                - matchArgs: [{index: 0, operator: \(op), values: [\(values.map { "\"\($0)\"" }.joined(separator: ", "))]}]
            """
        let parsed = PolicyLoader.parse(Array(yaml.utf8), file: "r.yaml")
        XCTAssertTrue(parsed.isValid, "validate: \(parsed.diagnostics)", file: file, line: line)
        let policy = try XCTUnwrap(parsed.policies.first, file: file, line: line)
        XCTAssertEqual(PolicyValidator.refusals(policy).map(\.message), [], file: file, line: line)
        let plan = try XCTUnwrap(
            PolicyCompiler.compile(policy, firstHookID: 1, environment: KernelProfiles.debian612).get().plans.first, file: file, line: line)
        return (plan.config.selectors.0.filters.0, plan)
    }

    func testFdEqualComparesItsFile() throws {
        let (f, plan) = try compiled(type: "fd", op: "Equal", values: ["/etc/shadow"])
        XCTAssertEqual(f.op, VIGIL_OP_EQ)
        XCTAssertEqual(plan.config.args.0.kind, VIGIL_ARG_FD)
        XCTAssertNotEqual(f.id_set, 0, "a named file is matched by identity too")
    }

    func testNetworkNamesValidateAndCompile() throws {
        XCTAssertEqual(try compiled(type: "sock", op: "Protocol", values: ["IPPROTO_IPV6"]).0.values.0, 41)
        for (name, number) in [("AF_UNSPEC", 0), ("AF_VSOCK", 40), ("AF_XDP", 44)] as [(String, Int64)] {
            XCTAssertEqual(try compiled(type: "sock", op: "Family", values: [name]).0.values.0, number, name)
        }
    }

    func testGoIntegerSyntax() throws {
        let f = try compiled(type: "int", op: "Equal", values: ["0o17", "1_000", "0b101", "0x10", "017"]).0
        XCTAssertEqual([f.values.0, f.values.1, f.values.2, f.values.3, f.values.4], [15, 1000, 5, 16, 15])
    }

    func testCapabilityNamesWithGT() throws {
        XCTAssertEqual(try compiled(type: "int", op: "GT", values: ["CAP_SYS_ADMIN"]).0.values.0, 21)
    }

    func testSubStringOnAString() throws {
        let (f, plan) = try compiled(type: "string", op: "SubString", values: ["passwd", "shadow"])
        XCTAssertEqual(f.op, VIGIL_OP_SUBSTRING)
        XCTAssertEqual(f.nvalues, 2)
        XCTAssertEqual(plan.sets.substrings.map { String(decoding: $0, as: UTF8.self) }, ["passwd", "shadow"])
        let ign = try compiled(type: "string", op: "SubStringIgnCase", values: ["PassWD"])
        XCTAssertEqual(ign.1.sets.substrings.map { String(decoding: $0, as: UTF8.self) }, ["passwd"], "lower-cased for the kernel's folded compare")
    }

    func testMaskGTAndLTWithSeveralValuesAsTetragon() throws {
        XCTAssertEqual(try compiled(type: "int", op: "Mask", values: ["64", "1", "2"]).0.values.0, 67, "any bit of any value")
        XCTAssertEqual(try compiled(type: "int", op: "GT", values: ["10", "3"]).0.values.0, 3, "greater than any value")
        XCTAssertEqual(try compiled(type: "int", op: "LT", values: ["10", "3"]).0.values.0, 10, "less than any value")
    }

    func testFileTypeAndSockaddrUn() throws {
        let (f, _) = try compiled(type: "file", op: "FileType", values: ["reg", "lnk"])
        XCTAssertEqual(f.op, VIGIL_OP_FILE_TYPE)
        XCTAssertEqual([f.values.0, f.values.1], [0o100000, 0o120000])
        let (u, plan) = try compiled(type: "sockaddr_un", op: "Prefix", values: ["/run/"])
        XCTAssertEqual(u.op, VIGIL_OP_PREFIX)
        XCTAssertEqual(plan.config.args.0.kind, VIGIL_ARG_SOCKADDR_UN)
    }

    /// Selector macros were parsed and then ignored: the selector ran wider than written.
    func testSelectorMacrosAreJoined() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: m}
            spec:
              selectorsMacros:
                only-cat:
                  matchBinaries: [{operator: In, values: ["/usr/bin/cat"]}]
              kprobes:
              - call: fn
                syscall: false
                args: [{index: 0, type: int}]
                selectors:
                - matchArgs: [{index: 0, operator: Equal, values: ["1"]}]
                  macros: [only-cat]
            """
        let policy = try XCTUnwrap(PolicyLoader.parse(Array(yaml.utf8), file: "m.yaml").policies.first)
        let plan = try XCTUnwrap(PolicyCompiler.compile(policy, firstHookID: 1, environment: KernelProfiles.debian612).get().plans.first)
        XCTAssertEqual(plan.config.selectors.0.binary_op, VIGIL_OP_EQ, "the macro's matchBinaries is part of the selector")
    }
}
