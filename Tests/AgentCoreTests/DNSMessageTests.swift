import AgentCore
import Sensors
import XCTest

/// The DNS parser against hand-made messages, including hostile ones: it must never trap.
final class DNSMessageTests: XCTestCase {
    static func name(_ n: String) -> [UInt8] { n.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }

    static let response: [UInt8] =
        [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0] + name("www.example.com") + [0, 1, 0, 1]
        + [0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 30, 0, 6] + [3] + Array("web".utf8) + [0xc0, 0x10]  // CNAME web.example.com
        + [0xc0, 0x2d, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]  // A 192.0.2.7 (name: the CNAME target)
        + [0xc0, 0x2d, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16] + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]

    func testResponseWithCompressionCnameAndAddresses() throws {
        let m = try XCTUnwrap(DNSMessage.parse(Self.response))
        XCTAssertEqual(m.id, 0x1234)
        XCTAssertTrue(m.isResponse)
        XCTAssertEqual(DNSMessage.rcodeName(m.rcode), "NOERROR")
        XCTAssertEqual(m.questions.map(\.name), ["www.example.com"])
        XCTAssertEqual(m.answers.map(\.data), ["web.example.com", "192.0.2.7", "2001:db8::1"])
        XCTAssertEqual(m.answers.map { DNSMessage.typeName($0.type) }, ["CNAME", "A", "AAAA"])
        XCTAssertEqual(m.answers[1].name, "web.example.com")
        XCTAssertFalse(m.incomplete)
    }

    func testCutMessageIsMarkedIncomplete() throws {
        let m = try XCTUnwrap(DNSMessage.parse(Array(Self.response.prefix(40))))
        XCTAssertTrue(m.incomplete)
        XCTAssertEqual(m.questions.count, 1)
    }

    func testPointerLoopsAndForwardPointersAreRefused() throws {
        // the question name points at itself
        let loop: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]
        XCTAssertEqual(DNSMessage.parse(loop)?.incomplete, true)
        XCTAssertNil(DNSMessage.parse([1, 2, 3]))
    }

    func testRandomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let n = Int.random(in: 0...80, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if b.count > 7 {
                b[5] = UInt8.random(in: 0...3)
                b[7] = UInt8.random(in: 0...3)
                b[4] = 0
                b[6] = 0
            }
            _ = DNSMessage.parse(b)
        }
    }
}
