/// A DNS message seen on port 53, with the process whose socket sent or received it.
public struct DNSEvent: Sendable, Equatable {
    public struct Question: Sendable, Equatable {
        public var name: String
        public var type: String
        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public struct Answer: Sendable, Equatable {
        public var name: String
        public var type: String
        public var ttl: UInt32
        /// A/AAAA: the address; CNAME/NS/PTR: the name; MX: "pref name"; TXT: the text; else hex.
        public var data: String
        public init(name: String, type: String, ttl: UInt32, data: String) {
            self.name = name
            self.type = type
            self.ttl = ttl
            self.data = data
        }
    }

    /// nil when the socket's owner is unknown (a socket Vigil did not see send).
    public var process: ProcessEntry?
    public var parent: ProcessEntry?
    /// "egress" (this host sent it) or "ingress".
    public var direction: String
    /// The packet's endpoints (sock_arg field names).
    public var socket: HookArgValue.SocketInfo
    public var cookie: UInt64
    public var id: UInt16
    public var isResponse: Bool
    public var rcode: String
    public var questions: [Question]
    public var answers: [Answer]
    /// The message was cut (longer than the kernel copies, or malformed where parsing stopped).
    public var truncated: Bool
    public var timeNs: UInt64

    public init(
        process: ProcessEntry?, parent: ProcessEntry?, direction: String, socket: HookArgValue.SocketInfo, cookie: UInt64, id: UInt16,
        isResponse: Bool, rcode: String, questions: [Question], answers: [Answer], truncated: Bool, timeNs: UInt64
    ) {
        self.process = process
        self.parent = parent
        self.direction = direction
        self.socket = socket
        self.cookie = cookie
        self.id = id
        self.isResponse = isResponse
        self.rcode = rcode
        self.questions = questions
        self.answers = answers
        self.truncated = truncated
        self.timeNs = timeNs
    }
}
