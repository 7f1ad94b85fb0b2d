import CVigilABI
import XCTest

/// Swift's view of the wire structs matches the C layout the BPF side compiles against
/// (the C side pins sizes with _Static_assert in vigil_abi.h).
final class ABILayoutTests: XCTestCase {
    func testRecordSizes() {
        XCTAssertEqual(MemoryLayout<vigil_record_header>.size, 16)
        XCTAssertEqual(MemoryLayout<vigil_exec_id>.size, 16)
        XCTAssertEqual(MemoryLayout<vigil_process>.size, 64 + 256)
        XCTAssertEqual(MemoryLayout<vigil_process>.offset(of: \.binary), 64)
        XCTAssertEqual(MemoryLayout<vigil_hook_config>.size, 3784)
        XCTAssertEqual(MemoryLayout<vigil_tracked_sock>.size, 24)
        XCTAssertEqual(MemoryLayout<vigil_selector>.size, 728)
        XCTAssertEqual(MemoryLayout<vigil_selector>.offset(of: \.cap_mask), 120)
        XCTAssertEqual(MemoryLayout<vigil_hook_arg>.size, 32)
        XCTAssertEqual(MemoryLayout<vigil_hook_record>.size, 1544)
        XCTAssertEqual(MemoryLayout<vigil_hook_record>.offset(of: \.slots), 1544 - 5 * 264)
        XCTAssertEqual(MemoryLayout<vigil_file_id>.size, 16)
        XCTAssertEqual(MemoryLayout<vigil_sb_root>.size, 8 + 256)
        XCTAssertEqual(MemoryLayout<vigil_substring>.size, 136)
        XCTAssertEqual(MemoryLayout<vigil_hook_slot>.offset(of: \.data), MemoryLayout<vigil_string_key>.offset(of: \.data))
        XCTAssertEqual(MemoryLayout<vigil_string_key>.size, 260)
        XCTAssertEqual(MemoryLayout<vigil_sock_data>.size, 48)
        XCTAssertEqual(MemoryLayout<vigil_exec_record>.size, 2000)
        XCTAssertEqual(MemoryLayout<vigil_fork_record>.size, 72)
        XCTAssertEqual(MemoryLayout<vigil_exit_record>.size, 64)
        XCTAssertEqual(MemoryLayout<vigil_test_record>.size, 96)
        // The character arrays come last, in this order (decoders read them by offset).
        XCTAssertEqual(MemoryLayout<vigil_exec_record>.offset(of: \.binary), 2000 - 1024 - 512)
        XCTAssertEqual(MemoryLayout<vigil_exec_record>.offset(of: \.args), 2000 - 1024)
    }

    /// The datapath's map keys are compared byte by byte (hash) or bit by bit (LPM): Swift
    /// must see the same bytes, with no padding of its own.
    func testDatapathLayouts() {
        XCTAssertEqual(MemoryLayout<vigil_endpoint_info>.size, 16)
        XCTAssertEqual(MemoryLayout<vigil_ipcache_key>.size, 24)
        XCTAssertEqual(MemoryLayout<vigil_ipcache_key>.offset(of: \.addr), 8)
        XCTAssertEqual(MemoryLayout<vigil_policy_key>.size, 20)
        XCTAssertEqual(MemoryLayout<vigil_policy_key>.offset(of: \.identity), 12)
        XCTAssertEqual(MemoryLayout<vigil_policy_key>.offset(of: \.protocol), 16)
        XCTAssertEqual(MemoryLayout<vigil_policy_key>.offset(of: \.port), 18)
        // the LPM bits: 96 of endpoint/direction/identity, then protocol, pad and port
        XCTAssertEqual(Int(VIGIL_POLICY_KEY_BITS_ANY_PROTO), (MemoryLayout<vigil_policy_key>.offset(of: \.protocol)! - 4) * 8)
        XCTAssertEqual(Int(VIGIL_POLICY_KEY_BITS_FULL), (MemoryLayout<vigil_policy_key>.size - 4) * 8)
        XCTAssertEqual(MemoryLayout<vigil_flow_tuple>.size, 16)
        XCTAssertEqual(MemoryLayout<vigil_flow_owner>.size, 32)
        XCTAssertEqual(MemoryLayout<vigil_flow_record>.size, 112)
    }
}
