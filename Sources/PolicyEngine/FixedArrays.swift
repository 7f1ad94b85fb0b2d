/// C fixed-size arrays import into Swift as tuples; these write their elements by index.
@inline(__always)
func setElement<Tuple, Element>(_ tuple: inout Tuple, _ index: Int, _ value: Element) {
    withUnsafeMutableBytes(of: &tuple) { raw in
        precondition((index + 1) * MemoryLayout<Element>.stride <= raw.count, "fixed array index \(index) out of range")
        raw.baseAddress!.advanced(by: index * MemoryLayout<Element>.stride).assumingMemoryBound(to: Element.self).pointee = value
    }
}

@inline(__always)
func element<Tuple, Element>(_ tuple: Tuple, _ index: Int, as: Element.Type) -> Element {
    withUnsafeBytes(of: tuple) { raw in raw.loadUnaligned(fromByteOffset: index * MemoryLayout<Element>.stride, as: Element.self) }
}

/// Mutates element `index` of a C fixed array of structs in place.
@inline(__always)
func modifyElement<Tuple, Element>(_ tuple: inout Tuple, _ index: Int, as: Element.Type, _ body: (inout Element) -> Void) {
    var e = element(tuple, index, as: Element.self)
    body(&e)
    setElement(&tuple, index, e)
}
