/// An action a policy asks the agent (not the kernel) to carry out when a hook's record
/// arrives: Tetragon's canary-token actions, GetUrl and DnsLookup.
public enum UserSpaceAction: Sendable, Equatable {
    /// An HTTP GET of a plain `http://` URL (the response is read and dropped).
    case getURL(HTTPURL)
    /// A name lookup through the node's resolver (getaddrinfo).
    case dnsLookup(String)

    /// Tetragon's action name in the event JSON.
    public var eventName: String {
        switch self {
        case .getURL: "KPROBE_ACTION_GETURL"
        case .dnsLookup: "KPROBE_ACTION_DNSLOOKUP"
        }
    }
}

/// A parsed `http://host[:port]/path` URL (what GetUrl fetches without TLS).
public struct HTTPURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    /// The request target, "/" at least, query included.
    public var target: String

    public init(host: String, port: UInt16, target: String) {
        self.host = host
        self.port = port
        self.target = target
    }

    /// Parses `text`; the reason for anything but plain http.
    public static func parse(_ text: String) -> Result<HTTPURL, ParseFailure> {
        guard text.lowercased().hasPrefix("http://") else {
            return .failure(
                ParseFailure(
                    description: text.lowercased().hasPrefix("https://")
                        ? "https needs TLS, which the agent does not speak; use an http:// URL (canary-token services take both)"
                        : "not an http:// URL"))
        }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var target = String(rest.dropFirst(authority.count).prefix { $0 != "#" })
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        guard !authority.contains("@") else { return .failure(ParseFailure(description: "credentials in the URL are not supported")) }
        var host = String(authority)
        var port: UInt16 = 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return .failure(ParseFailure(description: "unterminated IPv6 address")) }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = UInt16(after.dropFirst()), p > 0 else { return .failure(ParseFailure(description: "bad port")) }
                port = p
            } else if !after.isEmpty {
                return .failure(ParseFailure(description: "bad host"))
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = UInt16(host[host.index(after: colon)...]), p > 0 else { return .failure(ParseFailure(description: "bad port")) }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-.:_".contains($0) }) else {
            return .failure(ParseFailure(description: "bad host"))
        }
        guard target.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            return .failure(ParseFailure(description: "the path must be ASCII without spaces (percent-encode it)"))
        }
        return .success(HTTPURL(host: host, port: port, target: target))
    }

    public struct ParseFailure: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public var description: String { "http://\(host.contains(":") ? "[\(host)]" : host)\(port == 80 ? "" : ":\(port)")\(target)" }
}
