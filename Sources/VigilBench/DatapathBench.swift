import BPFKit
import CVigilABI
import Datapath
import Foundation
import NetworkPolicy

/// setns(2) into a network namespace for this thread (glibc hides the declaration).
func enterNetns(_ path: String) -> Int32 {
    let fd = open(path, O_RDONLY)
    defer { close(fd) }
    return enterNetns(fd: fd)
}

func enterNetns(fd: Int32) -> Int32 {
    typealias Fn = @convention(c) (Int32, Int32) -> Int32
    guard fd >= 0, let sym = dlsym(dlopen(nil, RTLD_NOW), "setns") else { return -1 }
    return unsafeBitCast(sym, to: Fn.self)(fd, 0x4000_0000)
}

/// The identity-aware datapath's cost, in one run: two endpoints (client, server; real
/// namespaces and veths), each round measuring with no datapath programs, with a policy of 10
/// rules and with one of 1,000 rules on the server: connect+close latency (every connection is
/// a new flow: conntrack miss, ipcache and policy lookups, flow records), bulk TCP throughput
/// over one connection (conntrack hits), and the tc programs' own ns per packet (bpf_stats).
func datapathBench(rounds: Int, connects: Int, megabytes: Int) {
    guard geteuid() == 0 else {
        print("datapath needs root (it makes namespaces and loads programs)")
        exit(1)
    }
    let state = "/tmp/vigil-bench-endpoints-\(getpid())"
    let manager = EndpointManager(stateDirectory: state, pool: IPPrefix("10.214.0.0/16")!)
    let client: EndpointRecord
    let server: EndpointRecord
    do {
        client = try manager.create(.init(name: "bench-client", labels: ["app": "bench-client"]))
        server = try manager.create(.init(name: "bench-server", labels: ["app": "bench-server"]))
    } catch {
        print("endpoints: \(error)")
        exit(1)
    }
    defer {
        try? manager.delete(name: client.name)
        try? manager.delete(name: server.name)
        try? FileManager.default.removeItem(atPath: state)
    }
    let port: UInt16 = 7070
    let bulkPort: UInt16 = 7071
    // server side: its own threads, in the server's namespace
    let ready = DispatchSemaphore(value: 0)
    for (p, bulk) in [(port, false), (bulkPort, true)] {
        Thread.detachNewThread {
            guard enterNetns("/run/netns/\(server.netns)") == 0 else { fatalError("setns server") }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = p.bigEndian
            _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(fd, 4096)
            ready.signal()
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let c = accept(fd, nil, nil)
                guard c >= 0 else { continue }
                if bulk { while recv(c, &buf, buf.count, 0) > 0 {} }
                close(c)
            }
        }
    }
    ready.wait()
    ready.wait()
    // the workload runs in the client's namespace; the datapath is driven from the host's
    let hostNetns = open("/proc/thread-self/ns/net", O_RDONLY)
    let clientNetns = open("/run/netns/\(client.netns)", O_RDONLY)
    func inClient<T>(_ body: () -> T) -> T {
        guard enterNetns(fd: clientNetns) == 0 else { fatalError("setns client") }
        defer { _ = enterNetns(fd: hostNetns) }
        return body()
    }

    let kernel: DatapathKernel
    let controller: DatapathController
    do {
        kernel = try DatapathKernel()
        try kernel.attachOwners()
        controller = try DatapathController(kernel: kernel)
    } catch {
        print("datapath load: \(error)")
        exit(1)
    }
    // flow records drained on their own thread, as the agent would
    let records = Counter()
    let learned = Counter()
    let drain = Unchecked(
        try! RingBuffer(maps: [kernel.eventsMap()]) { bytes in
            records.add()
            if bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self) == VIGIL_RECORD_FQDN { learned.add() }
            return true
        })
    Thread.detachNewThread {
        while true { try? drain.value.poll(timeoutMs: 50) }
    }

    func policy(rules n: Int) -> NetworkPolicy {
        var rules = [
            NetworkRule(
                direction: .ingress, deny: false, peers: [.endpoints(LabelSelector(matchLabels: ["app": "bench-client"]), namespace: "default")],
                ports: [PortRange(proto: .tcp, first: port, last: bulkPort)], path: "spec.ingress[0]")
        ]
        for i in 1..<n {  // decoys: other peers, other ports
            rules.append(
                NetworkRule(
                    direction: .ingress, deny: false, peers: [.cidr(IPPrefix("10.77.\(i / 250).\(i % 250 + 1)/32")!, except: [])],
                    ports: [PortRange(proto: .tcp, first: UInt16(20000 + i), last: UInt16(20000 + i))], path: "spec.ingress[\(i)]"))
        }
        return NetworkPolicy(
            kind: .ciliumNetworkPolicy, name: "bench", namespace: "default", endpointSelector: LabelSelector(matchLabels: ["app": "bench-server"]),
            rules: rules, defaultDeny: [.ingress], origin: "bench")
    }

    // toFQDNs: the client may reach the server only by a name a DNS answer gave it. The DNS
    // server answers every name with the server's address (distinct names for the rate test
    // get distinct addresses under 10.78/16) on the gateway, which is the host.
    let dnsAnswers = Counter()
    BenchDNS.serve(
        on: EndpointManager.gateway,
        answer: { name in
            name == "server.bench.test" ? server.address : BenchDNS.address(for: name)
        }, answered: dnsAnswers)
    let fqdnEgress = NetworkPolicy(
        kind: .ciliumNetworkPolicy, name: "bench-client", namespace: "default", endpointSelector: LabelSelector(matchLabels: ["app": "bench-client"]),
        rules: [
            NetworkRule(
                direction: .egress, deny: false, peers: [.entity(.host)], ports: [PortRange(proto: .udp, first: 53, last: 53)], path: "spec.egress[0]",
                dnsVisiblePorts: [PortRange(proto: .udp, first: 53, last: 53)]),
            NetworkRule(
                direction: .egress, deny: false,
                peers: [
                    .fqdn(try! FQDNSelector.parse("server.bench.test", pattern: false).get()),
                    .fqdn(try! FQDNSelector.parse("*.rate.bench.test", pattern: true).get()),
                ],
                ports: [PortRange(proto: .tcp, first: port, last: bulkPort)], path: "spec.egress[1]"),
        ], defaultDeny: [.egress], origin: "bench")

    func connectLoop(_ n: Int) -> Double { VigilBench.connectLoop(n, port: port, address: server.address) }

    func bulk(_ mb: Int) -> Double {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = bulkPort.bigEndian
        inet_pton(AF_INET, server.address, &sa.sin_addr)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { fatalError("bulk connect failed: errno \(errno)") }
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 16)
        let t = now()
        for _ in 0..<(mb * 16) {
            var off = 0
            while off < chunk.count { off += max(0, chunk.withUnsafeBytes { send(fd, $0.baseAddress! + off, chunk.count - off, 0) }) }
        }
        shutdown(fd, Int32(SHUT_WR))
        var b: UInt8 = 0
        _ = recv(fd, &b, 1, 0)  // the server closes after reading everything
        close(fd)
        return Double(mb) * 8 * 1_048_576 / (Double(now() - t) / 1e9) / 1e9  // Gbit/s
    }

    enum Config: String, CaseIterable {
        case none = "no datapath"
        case rules10 = "policy, 10 rules"
        case rules1000 = "policy, 1,000 rules"
        case fqdn = "+ egress by DNS name"
    }
    var latency: [Config: [Double]] = [:]
    var gbps: [Config: [Double]] = [:]
    var nsPerRun: [Config: [Double]] = [:]
    var entriesAt1000 = 0
    _ = inClient { connectLoop(500) }
    for _ in 0..<rounds {
        for c in Config.allCases {
            let errors = controller.setEndpoints(c == .none ? [] : [client, server])
            if !errors.isEmpty { fatalError("endpoints: \(errors)") }
            controller.setPolicies(c == .none ? [] : [policy(rules: c == .rules1000 ? 1000 : 10)] + (c == .fqdn ? [fqdnEgress] : []), file: "bench")
            try! controller.apply()
            if c == .rules1000 { entriesAt1000 = controller.state.entries.count }
            if c == .fqdn {
                guard inClient({ BenchDNS.ask("server.bench.test", server: EndpointManager.gateway) }) == server.address else {
                    fatalError("the bench DNS server did not answer server.bench.test")
                }
            }
            _ = inClient { connectLoop(200) }  // warm: ARP, conntrack
            let before = bpfStats(prefix: "dp_")
            latency[c, default: []].append(inClient { connectLoop(connects) })
            let after = bpfStats(prefix: "dp_")
            var ns: UInt64 = 0
            var runs: UInt64 = 0
            // program names are cut to 15 characters by the kernel
            for name in ["dp_from_endpoin", "dp_to_endpoint"] {
                let a = after[name] ?? (0, 0)
                let b = before[name] ?? (0, 0)
                ns += a.ns - b.ns
                runs += a.count - b.count
            }
            if runs > 0 { nsPerRun[c, default: []].append(Double(ns) / Double(runs)) }
            gbps[c, default: []].append(inClient { bulk(megabytes) })
        }
    }
    let entries = entriesAt1000
    // DNS answer processing: distinct names at a paced rate; every answer learned must reach user space
    let rate = 10_000
    let seconds = 3
    let learnedBefore = learned.value
    let (sent, answered) = inClient { BenchDNS.flood(rate: rate, seconds: seconds, server: EndpointManager.gateway) }
    usleep(300_000)  // the drain catches up
    let learnedNow = learned.value - learnedBefore
    let lost = (try? kernel.lostCount()) ?? 0
    controller.detachAll()
    print(
        "datapath: client and server endpoints (veth, routed via the host), \(rounds) rounds interleaved; connect+close x \(connects), bulk \(megabytes) MiB per round"
    )
    let base = median(latency[.none]!)
    let baseBW = median(gbps[.none]!)
    for c in Config.allCases {
        let l = median(latency[c]!)
        let g = median(gbps[c]!)
        var line =
            "  " + c.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)
            + String(format: " connect+close %6.1f us (x%.3f)   throughput %6.2f Gbit/s (x%.3f)", l / 1000, l / base, g, g / baseBW)
        if let n = nsPerRun[c] { line += String(format: "   tc programs %4.0f ns/packet (new flows)", median(n)) }
        print(line)
    }
    if let n10 = nsPerRun[.rules10], let n1000 = nsPerRun[.rules1000] {
        print(
            String(
                format: "  verdict cost, 1,000 rules vs 10: x%.3f per packet of new flows (target: does not grow); %d policy map entries at 1,000 rules",
                median(n1000) / median(n10), entries))
    }
    print("  flow records drained: \(records.value)")
    print(
        "  DNS answers at \(rate)/s for \(seconds) s: \(sent) asked, \(answered) answered, \(learnedNow) learned (records drained), \(answered - min(answered, learnedNow)) not learned; ring-buffer losses \(lost)"
    )
}

/// A counter shared with the drain thread.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() {
        lock.lock()
        n += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return n
    }
}

/// Hands a value to one other thread that alone uses it from then on.
final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
