/// A loaded link or map through a descriptor of its own, to pin later from another thread
/// (the agent's policy thread pins the process sensor once a policy enforces).
public struct BPFPinnable: Sendable {
    let fd: FileDescriptorBox
    public let name: String

    /// Pins the object in bpffs so it outlives this process.
    public func pin(at path: String) throws(BPFError) { try Libbpf.objPin(fd: fd.fd, path: path, subject: name) }
}

extension BPFMap {
    public func pinnable() throws(BPFError) -> BPFPinnable {
        BPFPinnable(fd: FileDescriptorBox(try Libbpf.duplicate(fd: fd, subject: subject)), name: subject)
    }
}

extension BPFLink {
    /// Only BPF links (not tc attachments) have a descriptor to pin.
    public func pinnable() throws(BPFError) -> BPFPinnable {
        BPFPinnable(fd: FileDescriptorBox(try Libbpf.duplicate(fd: try linkDescriptor(), subject: description)), name: description)
    }
}
