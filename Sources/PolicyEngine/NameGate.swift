import CVigilABI

/// What the kernel can test about a resolved file before it walks the file's dentries to its
/// global path (~1 us): the file's own name. A file whose path equals or ends with a value ends
/// with that value's last component, so a file whose name ends none of them cannot match an
/// Equal or Postfix filter by name (it still may by identity: a hardlink of a named file).
///
/// One gate per argument, the union over every Equal and Postfix filter on it: the kernel
/// (`read_name_gate` in bpf/include/hook_name_gate.h, `name_gate_rejects` in hook_filters.h) looks the name up
/// once, and a selector with such a filter on the argument is passed over when it misses.
struct NameGate {
    /// The values' last components: "/" + the component for a value with a "/", the whole
    /// value for one without (a Postfix "_key" needs the name to end with it).
    private(set) var tails: Set<String> = []
    /// false when some value has no last component ("/", "/etc/"): no gate on this argument.
    private(set) var possible = true
    /// Some filter also matches by identity: the kernel reads it when the name misses.
    private(set) var identities = false

    /// The kinds whose file the kernel reaches cheaply before the walk (the descriptor's file,
    /// the file or path argument itself).
    static let kinds: Set<UInt32> = [VIGIL_ARG_FD, VIGIL_ARG_FILE, VIGIL_ARG_PATH]

    /// Whether a filter with this operator takes part (the positive forms a name can rule out).
    static func gates(_ op: UInt32) -> Bool { op == VIGIL_OP_EQ || op == VIGIL_OP_POSTFIX }

    static func tail(of value: String) -> String? {
        guard let slash = value.lastIndex(of: "/") else { return value.isEmpty ? nil : value }
        let tail = String(value[slash...])
        return tail == "/" ? nil : tail
    }

    mutating func add(_ values: [String], identities: Bool) {
        for v in values {
            guard let t = NameGate.tail(of: v) else {
                possible = false
                continue
            }
            tails.insert(t)
        }
        if identities { self.identities = true }
    }

    /// Sets the argument's gate in `spec`, its tails added to `sets`; leaves a constant
    /// argument (an exec's stdin) and a kind the kernel does not gate alone.
    func apply(to spec: inout vigil_arg_spec, sets: inout ValueSets) {
        guard possible, !tails.isEmpty, NameGate.kinds.contains(spec.kind), spec.flags & VIGIL_ARGF_CONST == 0 else { return }
        spec.name_set = sets.addStrings(tails.sorted(), reversed: true)
        spec.flags |= VIGIL_ARGF_NAME_GATE | (identities ? VIGIL_ARGF_NAME_GATE_ID : 0)
    }
}
