import AgentCore

/// A listening TCP socket and the process taken as its owner: what the handshake accept tier
/// (`AcceptHook.handshake`) names when a connection to it is established.
public struct ListeningSocket: Sendable, Equatable {
    /// Network namespace inode.
    public var netns: UInt32
    /// 16 bytes: IPv6, or IPv4-mapped IPv6 (::ffff:a.b.c.d); all zeros for a wildcard bind.
    public var address: [UInt8]
    public var port: UInt16
    public var owner: ExecIdentity
    /// The owner's parent (the kernel tells an exec of the owner from a reused pid by it).
    public var ownerParent: ExecIdentity?
    public var uid: UInt32

    public init(netns: UInt32, address: [UInt8], port: UInt16, owner: ExecIdentity, ownerParent: ExecIdentity?, uid: UInt32) {
        self.netns = netns
        self.address = address
        self.port = port
        self.owner = owner
        self.ownerParent = ownerParent
        self.uid = uid
    }
}
