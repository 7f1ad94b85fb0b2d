import Foundation

/// A loopback acceptor (its own thread) that accepts and closes forever; returns its port.
func startAcceptor() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    listen(fd, 4096)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    Thread.detachNewThread {
        while true {
            let c = accept(fd, nil, nil)
            if c >= 0 { close(c) }
        }
    }
    return UInt16(bigEndian: addr.sin_port)
}

/// `n` TCP connect + close to `address` (RST on close: no TIME_WAIT pile-up); ns per connection.
func connectLoop(_ n: Int, port: UInt16, address: String = "127.0.0.1") -> Double {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr(address)
    var lg = linger(l_onoff: 1, l_linger: 0)
    let t = now()
    for _ in 0..<n {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, socklen_t(MemoryLayout<linger>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { fatalError("connect failed: \(errno)") }
        close(fd)
    }
    return Double(now() - t) / Double(n)
}

/// Loopback connect+close with no agent, the agent without the network sensor, and the agent
/// with it, interleaved in one run; plus the sensor's programs' own cost (bpf_stats).
func connectOverhead(rounds: Int, connects: Int) {
    guard geteuid() == 0 else {
        print("connect-overhead needs root (it runs the agent)")
        exit(1)
    }
    pin(cpu: 0)
    let port = startAcceptor()
    _ = connectLoop(2000, port: port)  // warm up
    var none: [Double] = []
    var sensorOff: [Double] = []
    var sensorOn: [Double] = []
    var perConnKernel: [Double] = []
    var perProgram: [String: [Double]] = [:]
    var runsPerConn: [String: [Double]] = [:]
    let export = "/tmp/vigil-bench-\(getpid()).json"
    for _ in 0..<rounds {
        none.append(connectLoop(connects, port: port))
        for withSensor in [false, true] {
            try? FileManager.default.removeItem(atPath: export)
            let agent = startAgent(export: export, extra: withSensor ? [] : ["--disable-network-sensor"])
            let before = bpfStats(prefix: "net_")
            let t = connectLoop(connects, port: port)
            if withSensor {
                sensorOn.append(t)
                let after = bpfStats(prefix: "net_")
                let ns = after.reduce(0.0) { $0 + Double($1.value.ns - (before[$1.key]?.ns ?? 0)) }
                perConnKernel.append(ns / Double(connects))
                for (name, a) in after {
                    let b = before[name] ?? (0, 0)
                    perProgram[name, default: []].append(Double(a.ns - b.ns) / Double(connects))
                    runsPerConn[name, default: []].append(Double(a.count - b.count) / Double(connects))
                }
            } else {
                sensorOff.append(t)
            }
            kill(agent.processIdentifier, SIGINT)
            agent.waitUntilExit()
        }
    }
    try? FileManager.default.removeItem(atPath: export)
    let mNone = median(none)
    let mOff = median(sensorOff)
    let mOn = median(sensorOn)
    print("connect-overhead: loopback TCP connect+close, \(rounds) rounds x \(connects) connections, interleaved; workload on CPU 0, agent on CPU 1")
    print(String(format: "  no agent:              median %.2f us/connection (min %.2f, max %.2f)", mNone / 1000, none.min()! / 1000, none.max()! / 1000))
    print(String(format: "  agent, sensor off:     median %.2f us/connection", mOff / 1000))
    print(String(format: "  agent, sensor on:      median %.2f us/connection", mOn / 1000))
    print(String(format: "  sensor on / sensor off: %.3f (%+.1f%%); sensor on / no agent: %.3f", mOn / mOff, (mOn / mOff - 1) * 100, mOn / mNone))
    print(
        String(format: "  kernel-side cost of the network sensor's programs (bpf_stats): %.0f ns per connection", median(perConnKernel))
            + " ("
            + perProgram.sorted { $0.key < $1.key }.filter { median($0.value) > 0 }
            .map { String(format: "%@ %.0f ns in %.1f runs", $0.key, median($0.value), median(runsPerConn[$0.key] ?? [0])) }.joined(separator: ", ") + ")")
}
