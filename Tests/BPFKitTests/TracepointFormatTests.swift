import KernelFeatures
import XCTest

final class TracepointFormatTests: XCTestCase {
    /// sys_enter_openat as Linux 6.18 prints it.
    static let openat = """
        name: sys_enter_openat
        ID: 782
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
        \tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
        \tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
        \tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

        print fmt: "dfd: 0x%08lx, filename: 0x%08lx"
        """

    func testParsesFieldsInOrderWithCommonFields() throws {
        let f = try XCTUnwrap(TracepointFormat(subsystem: "syscalls", event: "sys_enter_openat", text: Self.openat))
        XCTAssertEqual(f.id, 782)
        XCTAssertEqual(
            f.fields.map(\.name), ["common_type", "common_flags", "common_preempt_count", "common_pid", "__syscall_nr", "dfd", "filename", "flags", "mode"])
        XCTAssertEqual(f.fields[6].offset, 24)
        XCTAssertEqual(f.fields[6].size, 8)
        XCTAssertTrue(f.fields[6].isPointer)
        XCTAssertTrue(f.fields[3].isSigned)
    }

    func testArraysAndGarbage() throws {
        let text = "ID: 5\nformat:\n\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
        XCTAssertEqual(TracepointFormat(subsystem: "a", event: "b", text: text)?.fields.first?.name, "comm")
        XCTAssertNil(TracepointFormat(subsystem: "a", event: "b", text: "not a format"))
    }
}
