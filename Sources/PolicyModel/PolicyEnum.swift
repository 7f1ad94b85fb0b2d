/// An enumeration whose YAML spelling is its raw value (as in Tetragon's CRD enums).
public protocol PolicyEnum: RawRepresentable, CaseIterable, Sendable, Hashable where RawValue == String {}

extension PolicyEnum {
    /// Every accepted spelling, in declaration order, for error messages.
    public static var spellings: [String] { allCases.map(\.rawValue) }
}
