/// Hands out identities for label sets. One interface, so the node-local allocator can be
/// swapped for a cluster-wide one (an etcd-backed allocator keyed by the canonical label
/// string, as Cilium's kvstore allocator does) without touching the datapath, which only
/// ever sees numbers.
public protocol IdentityAllocator: AnyObject {
    /// The identity of `labels` (its identity-relevant part), allocated on first use; each
    /// call takes a reference.
    func acquire(_ labels: Labels) throws -> Identity
    /// Drops one reference; the identity is freed (and may be reused later) at zero.
    func release(_ identity: Identity)
    /// The labels an identity stands for (nil for unknown and reserved ones).
    func labels(of identity: Identity) -> Labels?
}

public struct IdentityExhausted: Error, CustomStringConvertible {
    public var description: String { "no free identity left in the cluster-scoped range" }
}

/// Identities known only to this node: numbers from 256 up, in allocation order, reused
/// after release.
public final class LocalIdentityAllocator: IdentityAllocator {
    private var byLabels: [String: (identity: Identity, labels: Labels, refs: Int)] = [:]
    private var byIdentity: [Identity: String] = [:]
    private var next = Identity.firstClusterScoped
    private var free: [UInt32] = []

    public init() {}

    public func acquire(_ labels: Labels) throws -> Identity {
        let relevant = labels.identityRelevant
        let key = relevant.canonical
        if var known = byLabels[key] {
            known.refs += 1
            byLabels[key] = known
            return known.identity
        }
        let number: UInt32
        if let reused = free.popLast() {
            number = reused
        } else {
            guard next < Identity.localScopeFlag else { throw IdentityExhausted() }
            number = next
            next += 1
        }
        let identity = Identity(number)
        byLabels[key] = (identity, relevant, 1)
        byIdentity[identity] = key
        return identity
    }

    public func release(_ identity: Identity) {
        guard let key = byIdentity[identity], var known = byLabels[key] else { return }
        known.refs -= 1
        if known.refs > 0 {
            byLabels[key] = known
            return
        }
        byLabels[key] = nil
        byIdentity[identity] = nil
        free.append(identity.rawValue)
    }

    public func labels(of identity: Identity) -> Labels? {
        byIdentity[identity].flatMap { byLabels[$0]?.labels }
    }
}
