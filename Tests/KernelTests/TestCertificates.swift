import Foundation
import XCTest

/// A test CA with a server certificate for 127.0.0.1 and localhost and a client certificate,
/// made with openssl in `directory` (for the TLS tests of etcd and of the agent's TCP API).
struct TestCertificates {
    let directory: String
    var ca: String { directory + "/ca.pem" }
    var serverCert: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server-key.pem" }
    var clientCert: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client-key.pem" }

    /// `name` prefixes the CA's common name (two sets made apart are two unrelated CAs).
    init(directory: String, name: String = "vigil-test") throws {
        self.directory = directory
        let d = directory
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(name)-ca", "-keyout", d + "/ca-key.pem", "-out", ca],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", serverKey, "-out", d + "/server.csr"],
            [
                "x509", "-req", "-in", d + "/server.csr", "-CA", ca, "-CAkey", d + "/ca-key.pem", "-CAcreateserial", "-days", "2",
                "-extfile", d + "/server.ext", "-out", serverCert,
            ],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)-client", "-keyout", clientKey, "-out", d + "/client.csr"],
            [
                "x509", "-req", "-in", d + "/client.csr", "-CA", ca, "-CAkey", d + "/ca-key.pem", "-CAcreateserial", "-days", "2",
                "-extfile", d + "/client.ext", "-out", clientCert,
            ],
        ]
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n".write(
            toFile: d + "/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: d + "/client.ext", atomically: true, encoding: .utf8)
        for step in steps {
            let r = try KernelTest.run("/usr/bin/openssl", step)
            guard r.status == 0 else {
                XCTFail("openssl \(step.joined(separator: " ")): \(r.stderr)")
                throw KernelTest.Stop(reason: "no certificates")
            }
        }
    }
}
