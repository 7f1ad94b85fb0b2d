import Foundation
import PolicyModel
import PolicyYAML
import XCTest

/// Invalid policies, each with the exact diagnostics (line:col, path, message) it must produce.
/// Fixtures/invalid/NAME.yaml is checked against NAME.expect, one diagnostic per line.
final class InvalidPolicyTests: XCTestCase {
    func testEveryInvalidFixtureGivesItsExactDiagnostics() throws {
        let files = Fixtures.files(in: "invalid", suffixes: [".yaml"])
        XCTAssertGreaterThanOrEqual(files.count, 40)
        for file in files {
            let expectPath = file.deletingPathExtension().appendingPathExtension("expect").path
            let expected = try String(contentsOfFile: expectPath, encoding: .utf8).split(separator: "\n").map(String.init)
            let result = PolicyLoader.load(path: file.path)
            let got = result.diagnostics.map { String($0.description.dropFirst(file.path.count + 1)) }
            XCTAssertEqual(got, expected, file.lastPathComponent)
            XCTAssertTrue(result.policies.isEmpty, "\(file.lastPathComponent): an invalid file yields no policies")
        }
    }

    func testThreeMistakesGiveThreePositionedErrors() {
        let result = PolicyLoader.load(path: Fixtures.root.appendingPathComponent("invalid/three-mistakes.yaml").path)
        XCTAssertEqual(result.diagnostics.map { "\($0.mark)" }, ["8:5", "11:13", "14:17"])
    }

    private func parse(_ text: String) -> [String] {
        PolicyLoader.parse(Array(text.utf8), file: "t.yaml").diagnostics.map { "\($0.mark): \($0.message)" }
    }

    func testEmptyAndCommentOnlyFiles() {
        let expected = ["1:1: contains no YAML document; a policy starts with apiVersion: cilium.io/v1alpha1"]
        XCTAssertEqual(parse(""), expected)
        XCTAssertEqual(parse("\n\n   \n"), expected)
        XCTAssertEqual(parse("# just a comment\n---\n"), expected)
    }

    func testBinaryGarbage() {
        var bytes: [UInt8] = Array("apiVersion: x\n".utf8)
        var state: UInt32 = 12345
        for _ in 0..<4096 {
            state = state &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        let diags = PolicyLoader.parse(bytes, file: "garbage.bin").diagnostics
        XCTAssertEqual(diags.count, 1)
        XCTAssertTrue(diags[0].message.contains("NUL byte") || diags[0].message.contains("YAML syntax error"), diags[0].message)
    }

    func testInvalidUTF8() {
        let diags = PolicyLoader.parse([0x6b, 0x3a, 0x20, 0xff, 0xfe, 0x0a], file: "bad.yaml").diagnostics
        XCTAssertEqual(diags.map(\.message), ["YAML syntax error: invalid leading UTF-8 octet"])
        XCTAssertEqual(diags.first?.mark, SourceMark(line: 1, column: 4))
    }

    func testTenMegabyteFileIsRefusedWithoutReadingItAll() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-10mb-\(getpid()).yaml").path
        let line = Array("# padding padding padding padding padding padding padding padding padding\n".utf8)
        var blob: [UInt8] = []
        blob.reserveCapacity(10 * 1024 * 1024 + line.count)
        while blob.count < 10 * 1024 * 1024 { blob += line }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(blob)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = PolicyLoader.load(path: path)
        XCTAssertEqual(result.diagnostics.map(\.message), ["is larger than 4 MiB; a policy file is never this big: is it the right file?"])
    }

    func testDeeplyNestedDocumentIsRefused() {
        let depth = 10_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        XCTAssertEqual(parse(text), ["1:66: nesting deeper than 64 levels; policies never need this"])
    }

    func testAliasBombIsRefusedQuickly() {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        var prev = "a"
        for i in 0..<12 {
            let name = "l\(i)"
            text += "\(name): &\(name) [" + Array(repeating: "*\(prev)", count: 10).joined(separator: ", ") + "]\n"
            prev = name
        }
        let start = Date()
        let diags = parse(text)
        XCTAssertEqual(diags.count, 1)
        XCTAssertTrue(diags[0].contains("more than 1000000 nodes"), diags[0])
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func testMissingFileAndDirectory() {
        XCTAssertEqual(PolicyLoader.load(path: "/nonexistent/p.yaml").diagnostics.map(\.message), ["file not found; check the path"])
        XCTAssertTrue(PolicyLoader.load(path: "/tmp").diagnostics[0].message.hasPrefix("is a directory"))
    }
}
