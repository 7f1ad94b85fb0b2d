import Fleet
import Foundation
import NetworkPolicy

/// `vigil-bench fleet`: fleet mode against a real etcd it starts on loopback (Debian's
/// etcd-server, temp data directory, random ports):
/// 1. identity allocations per second, against plain etcd puts per second (the baseline);
/// 2. an agent following a simulated fleet (nodes, endpoints, identities written by a load
///    generator): time to initial sync and resident memory, against the same agent without
///    fleet mode;
/// 3. `vigil fleet policy apply` to loaded on 3 local nodes, against a policy added through
///    one agent's API (the local baseline).
func fleetBench(nodes: Int, endpointsPerNode: Int, allocations: Int) {
    let etcd = BenchEtcd()
    defer { etcd.stop() }
    var settings = EtcdSettings()
    settings.endpoints = [etcd.endpoint]
    let client = try! EtcdClient(endpoint: etcd.endpoint, settings: settings)
    defer { client.close() }
    let keys = FleetKeys(prefix: "/vigil")

    // 1. allocations vs puts
    let putRate = blocking {
        let t = Date()
        for i in 0..<allocations {
            do { try await client.put("/bench/put/\(i)", Array("x".utf8)) } catch {
                say("put \(i): \(error)")
                throw error
            }
        }
        return Double(allocations) / Date().timeIntervalSince(t)
    }
    let allocRate = blocking {
        let t = Date()
        for i in 0..<allocations {
            do {
                let l = Labels(["app": "bench-\(i)", "tier": "t"])
                _ = try await FleetNetwork.allocate(l, client: client, keys: keys)
            } catch {
                say("alloc \(i): \(error)")
                throw error
            }
        }
        return Double(allocations) / Date().timeIntervalSince(t)
    }
    let again = blocking {
        let t = Date()
        for i in 0..<allocations { _ = try await FleetNetwork.allocate(Labels(["app": "bench-\(i)", "tier": "t"]), client: client, keys: keys) }
        return Double(allocations) / Date().timeIntervalSince(t)
    }
    print("identity allocation: \(Int(allocRate))/s new, \(Int(again))/s existing; baseline plain put \(Int(putRate))/s")
    print("  ratio new allocation / put: \(String(format: "%.2f", allocRate / putRate))")

    // 2. a simulated fleet: node, endpoint and identity keys (identities shared by 50 apps)
    let written = blocking {
        let t = Date()
        for n in 0..<nodes {
            let node = FleetNode(
                name: "sim-\(n)", labels: ["role": n % 2 == 0 ? "web" : "db"], kernel: "6.1", tiers: [], agentVersion: "sim", policySetHash: "0",
                started: Date(), pid: 1)
            try await client.put(keys.node(node.name), FleetJSON.encode(node))
            for e in 0..<endpointsPerNode {
                let app = "app-\((n * endpointsPerNode + e) % 50)"
                let id = try await FleetNetwork.allocate(Labels(["app": app, "io.kubernetes.pod.namespace": "default"]), client: client, keys: keys)
                let address = "10.\(100 + n / 250).\(n % 250).\(e + 1)"
                let ep = ClusterIdentities.RemoteEndpoint(
                    address: address, identity: id, labels: ["app": app, "io.kubernetes.pod.namespace": "default"], node: "sim-\(n)", name: "ep-\(e)",
                    namespace: "default")
                do { try await client.put(keys.endpoint(node: "sim-\(n)", address: address), FleetJSON.encode(ep)) } catch {
                    say("endpoint put \(n) \(e): \(error)")
                    throw error
                }
                do { try await client.put(keys.identityRef(id, node: "sim-\(n)"), []) } catch {
                    say("ref put \(n) \(e): \(error)")
                    throw error
                }
            }
        }
        return Date().timeIntervalSince(t)
    }
    print("simulated fleet: \(nodes) nodes, \(nodes * endpointsPerNode) endpoints written in \(String(format: "%.1f", written)) s")
    let dir = NSTemporaryDirectory() + "vigil-bench-fleet-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func runAgent(_ name: String, fleet: Bool) -> (seconds: Double, rssMB: Double) {
        let log = dir + "/\(name).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil")
        p.arguments =
            [
                "agent", "--node-name", name, "--export-file", dir + "/\(name).json", "--status-file", dir + "/\(name).status", "--server-address", "",
                "--lock-file", dir + "/\(name).lock", "--enforce-pin-dir", "", "--exit-with-parent", "--datapath-pin-dir", "/sys/fs/bpf/vigil-bench-\(name)",
                "--endpoint-state-dir", dir + "/\(name)-endpoints", "--datapath-status-file", dir + "/\(name)-dp.json", "--fleet-state-dir",
                dir + "/\(name)-fleet",
            ] + (fleet ? ["--kvstore", "etcd", "--kvstore-endpoints", etcd.endpoint] : [])
        p.standardError = try! FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let t = Date()
        try! p.run()
        let marker = fleet ? "identities and endpoints listed" : "network datapath attached"
        while Date().timeIntervalSince(t) < 120, !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains(marker) { usleep(20_000) }
        let seconds = Date().timeIntervalSince(t)
        sleep(3)  // settled: the datapath has taken the remote endpoints in
        let rss = Double(rssKB(p.processIdentifier)) / 1024
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        try? FileManager.default.removeItem(atPath: "/sys/fs/bpf/vigil-bench-\(name)")
        return (seconds, rss)
    }
    let alone = runAgent("alone", fleet: false)
    let follower = runAgent("follower", fleet: true)
    print(
        "agent following the simulated fleet: start to synced \(String(format: "%.2f", follower.seconds)) s, RSS \(String(format: "%.1f", follower.rssMB)) MiB"
            + " (target < 100 MB); baseline the same agent without fleet mode: ready in \(String(format: "%.2f", alone.seconds)) s, RSS \(String(format: "%.1f", alone.rssMB)) MiB"
    )
    print("  ratio RSS fleet / alone: \(String(format: "%.2f", follower.rssMB / alone.rssMB))")
}

/// Runs an async body to completion; a failure ends the benchmark with the error.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> T {
    do { return try runBlocking(body) } catch {
        say("vigil-bench fleet: \(error)")
        exit(1)
    }
}

/// A one-member etcd on loopback for the benchmark.
final class BenchEtcd {
    let process = Process()
    let directory = NSTemporaryDirectory() + "vigil-bench-etcd-\(getpid())"
    let endpoint: String

    init() {
        let client = 20000 + Int(getpid() % 10000)
        let peer = client + 10000
        endpoint = "http://127.0.0.1:\(client)"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        process.arguments = [
            "--name", "bench", "--data-dir", directory, "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-cluster", "bench=http://127.0.0.1:\(peer)",
        ]
        FileManager.default.createFile(atPath: directory + ".log", contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try! FileHandle(forWritingTo: URL(fileURLWithPath: directory + ".log"))
        try! process.run()
        for _ in 0..<100 {
            let c = Process()
            c.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
            c.arguments = ["--endpoints", endpoint, "--dial-timeout", "1s", "endpoint", "health"]
            c.standardOutput = FileHandle.nullDevice
            c.standardError = FileHandle.nullDevice
            try! c.run()
            c.waitUntilExit()
            if c.terminationStatus == 0 { return }
            usleep(200_000)
        }
        fatalError("etcd did not start")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func say(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
