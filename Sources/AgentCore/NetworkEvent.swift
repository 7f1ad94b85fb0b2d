/// What the network sensor reports: a TCP connect (established or failed), accept or close,
/// or a UDP socket's first datagram to a peer; always with the owning process.
public struct NetworkEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case connect, accept, close
        /// A UDP socket's first datagram (or connect) to this peer.
        case udp
        /// A process tried many distinct TCP destinations within one window (counted in the
        /// kernel): `bytesSent` holds the count, `durationNs` the window, `socket` the last one.
        case scan

        /// The JSON event name (`process_connect` covers both TCP connects and UDP peers).
        public var eventName: String {
            switch self {
            case .connect, .udp: "process_connect"
            case .accept: "process_accept"
            case .close: "process_close"
            case .scan: "process_scan"
            }
        }

        /// The export-filter event type (Tetragon style).
        public var eventType: String {
            switch self {
            case .connect, .udp: "PROCESS_CONNECT"
            case .accept: "PROCESS_ACCEPT"
            case .close: "PROCESS_CLOSE"
            case .scan: "PROCESS_SCAN"
            }
        }
    }

    public var kind: Kind
    public var process: ProcessEntry
    public var parent: ProcessEntry?
    public var socket: HookArgValue.SocketInfo
    /// The socket cookie (SO_COOKIE): joins the events of one connection.
    public var cookie: UInt64
    /// connect: the handshake did not complete (refused, reset, timed out).
    public var failed: Bool
    /// close: bytes the peer acknowledged, bytes received, time since connect/accept.
    public var bytesSent: UInt64
    public var bytesReceived: UInt64
    public var durationNs: UInt64
    public var timeNs: UInt64

    public init(
        kind: Kind, process: ProcessEntry, parent: ProcessEntry?, socket: HookArgValue.SocketInfo, cookie: UInt64, failed: Bool = false,
        bytesSent: UInt64 = 0, bytesReceived: UInt64 = 0, durationNs: UInt64 = 0, timeNs: UInt64
    ) {
        self.kind = kind
        self.process = process
        self.parent = parent
        self.socket = socket
        self.cookie = cookie
        self.failed = failed
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.durationNs = durationNs
        self.timeNs = timeNs
    }
}
