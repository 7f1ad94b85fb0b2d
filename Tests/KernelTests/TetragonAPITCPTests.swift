import Foundation
import XCTest

// Host only, as the rest of TetragonAPITests (its class file carries the marker scripts/vm-test.sh reads).

/// The API on TCP, mutual TLS only (`--server-tcp-address`), driven by Python grpcio: a client
/// with a certificate the configured CA signed reads and manages policies; one without a
/// certificate, with another CA's, or speaking plaintext is refused; TLS settings without an
/// address (or an address without them) stop the agent with the flag named.
extension TetragonAPITests {
    func testTCPAPIServesOnlyClientsWithACertificateOfItsCA() throws {
        try KernelTest.require(.tracepoint)
        try requireGrpcio()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trusted = try TestCertificates(directory: dir + "/trusted", name: "vigil-api")
        let other = try TestCertificates(directory: dir + "/other", name: "someone-else")
        let agent = try AgentHarness(extraArguments: [
            "--server-tcp-address", "127.0.0.1:0", "--server-tls-cert-file", trusted.serverCert, "--server-tls-key-file", trusted.serverKey,
            "--server-tls-client-ca-file", trusted.ca,
        ])
        // the port the agent picked, from its log
        var address = ""
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        while address.isEmpty && Date() < deadline {
            let log = agent.stderrTextSoFar()
            if let r = log.range(of: #"address=127\.0\.0\.1:\d+"#, options: .regularExpression) { address = String(log[r].dropFirst("address=".count)) }
            usleep(100_000)
        }
        XCTAssertFalse(address.isEmpty, "the agent logs where the TCP API listens: \(agent.stderrTextSoFar().suffix(600))")
        let good = ["--address", address, "--ca", trusted.ca, "--cert", trusted.clientCert, "--key", trusted.clientKey]

        let health = try client(agent, ["health"], via: good).json
        XCTAssertEqual((health["health_status"] as? [[String: Any]])?.first?["status"] as? String, "HEALTH_STATUS_RUNNING", "\(health)")
        let policy = dir + "/tcp-added.yaml"
        try Self.openatPolicy(name: "added-over-tcp").write(toFile: policy, atomically: true, encoding: .utf8)
        XCTAssertEqual(try client(agent, ["add", policy], via: good).status, 0)
        let list = try client(agent, ["list"], via: good).json
        let names = (list["policies"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        XCTAssertTrue(names.contains("added-over-tcp"), "\(list)")

        // refused: no client certificate, a certificate of another CA, plaintext
        let noCert = try client(agent, ["health"], via: ["--address", address, "--ca", trusted.ca, "--timeout", "5"])
        XCTAssertEqual(noCert.status, 3, "a client without a certificate is refused: \(noCert.json)")
        let otherCA = try client(
            agent, ["health"], via: ["--address", address, "--ca", trusted.ca, "--cert", other.clientCert, "--key", other.clientKey, "--timeout", "5"])
        XCTAssertEqual(otherCA.status, 3, "a certificate of another CA is refused: \(otherCA.json)")
        let plain = try client(agent, ["health"], via: ["--plaintext-tcp", address, "--timeout", "5"])
        XCTAssertEqual(plain.status, 3, "plaintext gRPC over TCP is refused: \(plain.json)")
        let after = try client(agent, ["list"], via: good).json
        XCTAssertEqual((after["policies"] as? [[String: Any]] ?? []).count, names.count, "the refused clients changed nothing")
        agent.stop()

        // bad settings: exit 2 naming the flag, before anything loads
        for (args, says) in [
            (["--server-tcp-address", "127.0.0.1:0"], "--server-tls-cert-file"),
            (["--server-tls-cert-file", trusted.serverCert], "--server-tcp-address"),
            (
                [
                    "--server-tcp-address", "127.0.0.1:0", "--server-tls-cert-file", dir + "/missing.pem", "--server-tls-key-file", trusted.serverKey,
                    "--server-tls-client-ca-file", trusted.ca,
                ], "missing.pem"
            ),
        ] {
            let r = try KernelTest.run(APICommandLineTests.vigil, ["agent"] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(says), "\(args) says \(says): \(r.stderr)")
        }
    }
}
