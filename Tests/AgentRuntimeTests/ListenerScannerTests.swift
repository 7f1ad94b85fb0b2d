import AgentCore
import XCTest

@testable import AgentRuntime

/// The /proc side of the handshake accept tier: which listeners exist and who is taken as
/// their owner (the kernel side is AcceptHookTests in KernelTests).
final class ListenerScannerTests: XCTestCase {
    // Lines as Linux prints them (trailing fields cut); only the 0A (LISTEN) rows count.
    static let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
           1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0 10 0
           2: 0100007F:0CEA 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 20 4 30 10 -1
        """
    static let tcp6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5150 1 0000000000000000 100 0 0 10 0
           1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 100 0 0 10 0
        """

    func testListeningRowsWithAddressesInNetworkOrder() {
        let v4 = ListenerScanner.listening(Self.tcp, v6: false)
        XCTAssertEqual(v4.map(\.inode), [4242, 4243], "the established row is not a listener")
        XCTAssertEqual(v4[0].port, 3306)
        XCTAssertEqual(v4[0].address, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], "127.0.0.1, IPv4-mapped")
        XCTAssertEqual(v4[1].port, 22)
        XCTAssertEqual(v4[1].address, [UInt8](repeating: 0, count: 16), "0.0.0.0 is the wildcard: all zeros")
        let v6 = ListenerScanner.listening(Self.tcp6, v6: true)
        XCTAssertEqual(v6.map(\.port), [80, 8080])
        XCTAssertEqual(v6[0].address, [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(v6[1].address, [UInt8](repeating: 0, count: 15) + [1], "::1")
        XCTAssertEqual(ListenerScanner.listening("garbage\nnot a table row\n", v6: false), [])
    }

    func testSocketLinks() {
        XCTAssertEqual(ListenerScanner.socketInode("socket:[5150]"), 5150)
        XCTAssertNil(ListenerScanner.socketInode("pipe:[5150]"))
        XCTAssertNil(ListenerScanner.socketInode("/dev/null"))
    }

    func testOwnerIsTheEarliestHolderAndPid1OnlyWhenAlone() {
        func proc(_ pid: UInt32, started: UInt64) -> ProcessEntry { ProcessEntry(id: ExecIdentity(ktime: started, pid: pid), parent: nil, binary: "/x") }
        let master = proc(100, started: 5)
        let worker = proc(101, started: 9)
        let systemd = proc(1, started: 1)
        XCTAssertEqual(ListenerScanner.owner(among: [worker, master])?.pid, 100, "a pre-forking server: the parent that listened")
        XCTAssertEqual(ListenerScanner.owner(among: [systemd, worker])?.pid, 101, "socket activation: the service, not the manager")
        XCTAssertEqual(ListenerScanner.owner(among: [systemd])?.pid, 1, "a socket only the manager holds yet")
        XCTAssertNil(ListenerScanner.owner(among: []))
    }
}
