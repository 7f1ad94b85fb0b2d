import Foundation
import XCTest

/// A real etcd (Debian's etcd-server) for one test: a single member on 127.0.0.1 with random
/// client and peer ports and its own data directory; stopped (and restarted on the same ports
/// and data, for outage tests) by the test.
final class EtcdFixture {
    let directory: String
    let clientPort: Int
    let peerPort: Int
    private var process: Process?
    private let log: FileHandle
    /// With TLS: the CA, and a client certificate etcd accepts (etcd asks for one).
    let tls: Bool

    var endpoint: String { "\(tls ? "https" : "http")://127.0.0.1:\(clientPort)" }
    var ca: String { directory + "/ca.pem" }
    var clientCert: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client-key.pem" }
    /// The `--kvstore-*` arguments that reach this etcd.
    var kvstoreArguments: [String] {
        ["--kvstore-endpoints", endpoint] + (tls ? ["--kvstore-ca", ca, "--kvstore-cert", clientCert, "--kvstore-key", clientKey] : [])
    }

    init(tls: Bool = false) throws {
        self.tls = tls
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") else {
            XCTFail("etcd missing: run scripts/install-deps.sh --test (Debian's etcd-server)")
            throw KernelTest.Stop(reason: "no etcd")
        }
        directory = try KernelTest.scratchDirectory()
        clientPort = try PrometheusMetricsTests.freePort()
        var peer = try PrometheusMetricsTests.freePort()
        while peer == clientPort { peer = try PrometheusMetricsTests.freePort() }
        peerPort = peer
        FileManager.default.createFile(atPath: directory + "/etcd.log", contents: nil)
        log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/etcd.log"))
        if tls { try makeCertificates() }
        try start()
    }

    /// Starts (or restarts) the member and waits until it serves.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        let peerURL = "http://127.0.0.1:\(peerPort)"
        p.arguments = [
            "--name", "vigil-test", "--data-dir", directory + "/data",
            "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
            "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
            "--initial-cluster", "vigil-test=\(peerURL)", "--initial-cluster-token", "vigil-test-\(getpid())",
        ]
        if tls {
            p.arguments! += [
                "--cert-file", directory + "/server.pem", "--key-file", directory + "/server-key.pem", "--client-cert-auth", "--trusted-ca-file", ca,
            ]
        }
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if !p.isRunning { break }
            if let r = try? KernelTest.run("/usr/bin/etcdctl", ctlArguments + ["--dial-timeout", "1s", "endpoint", "health"]), r.status == 0 {
                return
            }
            usleep(200_000)
        }
        XCTFail("etcd did not start: \(logTail())")
        throw KernelTest.Stop(reason: "etcd did not start")
    }

    /// Stops the member (SIGTERM) and waits for it.
    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    /// `etcdctl` against this member.
    @discardableResult
    func ctl(_ arguments: [String]) throws -> String {
        let r = try KernelTest.run("/usr/bin/etcdctl", ctlArguments + arguments)
        XCTAssertEqual(r.status, 0, "etcdctl \(arguments.joined(separator: " ")): \(r.stderr)")
        return r.stdout
    }

    var ctlArguments: [String] { ["--endpoints", endpoint] + (tls ? ["--cacert", ca, "--cert", clientCert, "--key", clientKey] : []) }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl.
    private func makeCertificates() throws { _ = try TestCertificates(directory: directory) }

    func logTail() -> String {
        String((try? String(contentsOfFile: directory + "/etcd.log", encoding: .utf8))?.suffix(1500) ?? "")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
