// kernel-test-host-only: talks to an etcd on 127.0.0.1; in a guest that would need qemu's user-mode network.
import Fleet
import Foundation
import Synchronization
import XCTest

/// The fleet's watch loop (`EtcdClient.follow`, what the agent runs on every prefix it
/// follows) against a real etcd whose history was compacted under it.
final class EtcdWatchTests: XCTestCase {
    /// What the follower knows: the keys it holds, how often it listed, what etcd said was compacted.
    final class Follower: Sendable {
        struct State {
            var keys: [String: String] = [:]
            var lists = 0
            var compactedAt: [Int64] = []
        }
        let state = Mutex(State())
        func wait(_ what: String, timeout: TimeInterval = 10, until done: (State) -> Bool) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while !state.withLock({ done($0) }) {
                if Date() > deadline {
                    XCTFail("\(what): not within \(timeout) s; follower: \(state.withLock { "\($0)" })")
                    throw KernelTest.Stop(reason: what)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    func testAWatchFromACompactedRevisionListsAgainAndMissesNothing() async throws {
        let etcd = try EtcdFixture()
        defer { etcd.stop() }
        let client = try EtcdClient(endpoint: etcd.endpoint, settings: EtcdSettings())
        defer { client.close() }
        let prefix = "/watch-test/"
        let first = try await client.put(prefix + "gone", Array("1".utf8))
        _ = try await client.put(prefix + "kept", Array("2".utf8))
        try await client.delete(prefix + "gone")
        let deleted = try await client.list(prefix: prefix).revision
        // history up to the delete is gone: a watch from `first` + 1 cannot be served
        try await client.compact(revision: deleted)

        let follower = Follower()
        let following = Task {
            try await client.follow(
                prefix: prefix, from: first,
                relist: {
                    let (values, revision) = try await client.list(prefix: prefix)
                    follower.state.withLock { s in
                        s.lists += 1
                        s.keys = Dictionary(uniqueKeysWithValues: values.map { ($0.key, String(decoding: $0.value, as: UTF8.self)) })
                    }
                    return revision
                },
                onCompacted: { r in follower.state.withLock { $0.compactedAt.append(r) } }
            ) { changes in
                follower.state.withLock { s in
                    for c in changes {
                        switch c {
                        case .put(let kv): s.keys[kv.key] = String(decoding: kv.value, as: UTF8.self)
                        case .delete(let key, _): s.keys[key] = nil
                        }
                    }
                }
            }
        }
        defer { following.cancel() }

        try await follower.wait("the compacted watch lists again") { $0.lists == 1 }
        XCTAssertEqual(follower.state.withLock { $0.compactedAt }, [deleted], "etcd names the revision it compacted to")
        // the state the list gave is the store's, the deleted key included (its delete event is gone)
        XCTAssertEqual(follower.state.withLock { $0.keys }, [prefix + "kept": "2"])

        // and the watch goes on from the list's revision: a change after it arrives
        _ = try await client.put(prefix + "new", Array("3".utf8))
        try await follower.wait("a put after the list") { $0.keys[prefix + "new"] == "3" }

        // a compaction under a watch that is up to date changes nothing for it
        let latest = try await client.put(prefix + "kept", Array("4".utf8))
        try await follower.wait("the update") { $0.keys[prefix + "kept"] == "4" }
        try await client.compact(revision: latest)
        try await client.delete(prefix + "new")
        try await follower.wait("a delete after the second compaction") { $0.keys[prefix + "new"] == nil }
        XCTAssertEqual(follower.state.withLock { $0.lists }, 1, "an up-to-date watch is not made to list again")
    }
}
