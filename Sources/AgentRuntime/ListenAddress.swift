/// HOST:PORT as the agent's listening flags take it (`--metrics-address`,
/// `--server-tcp-address`): an IPv4 address or name, or `[v6]`; port 0 picks one. The one
/// parser for the flag's check and for the servers that bind it.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    /// Why the text is not HOST:PORT (the caller names the flag and the value).
    public struct Invalid: Error, CustomStringConvertible {
        public var why: String
        public var description: String { why }
    }

    /// `example` (e.g. 127.0.0.1:2112) goes into the error.
    public init(_ address: String, example: String) throws(Invalid) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) else {
            throw Invalid(why: "expected HOST:PORT, e.g. \(example)")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw Invalid(why: "no host; say 127.0.0.1:\(port) (or 0.0.0.0:\(port) for every interface)") }
        self.host = host
        self.port = port
    }
}
