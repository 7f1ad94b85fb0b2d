import AgentCore
import XCTest

/// Root's powers granted through the account files: what counts, and what does not.
final class AccountChangesTests: XCTestCase {
    let passwd = """
        root:x:0:0:root:/root:/bin/bash
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        alice:x:1000:1000::/home/alice:/bin/bash
        """
    let group = """
        root:x:0:
        sudo:x:27:alice
        docker:x:998:
        alice:x:1000:
        """

    func grants(passwd newPasswd: String? = nil, group newGroup: String? = nil) -> [AccountGrant] {
        AccountSnapshot(passwd: newPasswd ?? passwd, group: newGroup ?? group).grants(since: AccountSnapshot(passwd: passwd, group: group))
    }

    func testASecondRootAccountByUIDIsAGrant() {
        XCTAssertEqual(
            grants(passwd: passwd + "\ntoor:x:0:0::/root:/bin/bash"),
            [AccountGrant(user: "toor", kind: .rootUID), AccountGrant(user: "toor", kind: .privilegedGroup("root"))])
        XCTAssertEqual(
            grants(passwd: passwd.replacingOccurrences(of: "alice:x:1000:1000", with: "alice:x:0:1000")), [AccountGrant(user: "alice", kind: .rootUID)])
    }

    func testANewMemberOfAPrivilegedGroupByListOrPrimaryGroupIsAGrant() {
        XCTAssertEqual(
            grants(group: group.replacingOccurrences(of: "docker:x:998:", with: "docker:x:998:alice")),
            [AccountGrant(user: "alice", kind: .privilegedGroup("docker"))])
        XCTAssertEqual(
            grants(passwd: passwd + "\nbob:x:1001:27::/home/bob:/bin/sh"), [AccountGrant(user: "bob", kind: .privilegedGroup("sudo"))],
            "bob's primary group is sudo")
    }

    func testOrdinaryChangesAndExistingPowersAreNot() {
        XCTAssertEqual(grants(), [], "nothing changed")
        XCTAssertEqual(
            grants(passwd: passwd + "\nbob:x:1001:1001::/home/bob:/bin/sh", group: group + "\nbob:x:1001:\nstaff:x:50:alice,bob"), [],
            "a user and ordinary groups")
        XCTAssertEqual(grants(passwd: "root:x:0:0:root:/root:/bin/bash"), [], "users removed")
        XCTAssertEqual(grants(group: group.replacingOccurrences(of: "sudo:x:27:alice", with: "sudo:x:27:")), [], "a member removed")
        XCTAssertEqual(grants(passwd: "# comment\n" + passwd + "\nbroken:line\n"), [], "comments and malformed lines")
    }
}
