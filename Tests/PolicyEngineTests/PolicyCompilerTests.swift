import AgentCore
import CVigilABI
import KernelFeatures
import PolicyEngine
import PolicyModel
import PolicyYAML
import XCTest

/// The compiler on fixed kernel profiles (no kernel): tiers, specialization, value sets, refusals.
final class PolicyCompilerTests: XCTestCase {
    static let openatFormat = TracepointFormat(
        subsystem: "syscalls", event: "sys_enter_openat",
        text: """
            name: sys_enter_openat
            ID: 700
            format:
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
            \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
            \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
            \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
            \tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
            \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
            \tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
            \tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;
            """)!

    /// A kernel with the given features; every function has BTF, every tracepoint exists, and
    /// every file outside /no/.
    static func env(_ features: Set<KernelFeature>) -> KernelEnvironment {
        let status: @Sendable (KernelFeature) -> FeatureStatus = {
            features.contains($0) ? .supported : .unsupported(step: "load", errno: 1, errnoName: "EPERM", detail: "")
        }
        return KernelEnvironment(
            place: {
                HookPlacement.place(
                    $0, status: status, hasBTF: { _ in true }, hasSymbol: { _ in true }, tracepointExists: { _, _ in true },
                    fileExists: { !$0.hasPrefix("/no/") }, bpfLSMActive: true)
            },
            status: status, tracepointFormat: { $0 == "syscalls" && $1 == "sys_enter_openat" ? openatFormat : KernelProfiles.tracepointFormat($0, $1) },
            hostNamespace: { _ in 4_026_531_836 })
    }
    static let hostFeatures: Set<KernelFeature> = [.tracepoint, .rawTracepoint, .sendSignal, .ringBuffer]
    static let fullFeatures = hostFeatures.union([.kprobe, .fentry, .fexit, .fmodRet, .lsm])
    static let host = env(hostFeatures)
    static let full = env(fullFeatures)
    /// The same kernels with cgroup sock_addr programs (both real ones have them).
    static let hostCgroup = env(hostFeatures.union([.cgroupSockAddr]))
    static let fullCgroup = env(fullFeatures.union([.cgroupSockAddr]))

    func policy(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> TracingPolicy {
        let r = PolicyLoader.parse(Array(yaml.utf8), file: "test.yaml")
        XCTAssertTrue(r.isValid, "\(r.diagnostics)", file: file, line: line)
        return try XCTUnwrap(r.policies.first)
    }

    func compile(_ yaml: String, _ env: KernelEnvironment) throws -> Result<[HookPlan], PolicyLoadError> {
        PolicyCompiler.compile(try policy(yaml), firstHookID: 7, environment: env).map(\.plans)
    }

    static let fim = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: fim}
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - {index: 5, type: int}
            - {index: 6, type: string}
            selectors:
            - matchArgs:
              - {index: 1, operator: Prefix, values: ["/etc/", "/usr/"]}
              - {index: 0, operator: Equal, values: ["-100"]}
              matchBinaries:
              - {operator: Postfix, values: ["/cat"]}
              matchActions:
              - {action: Post, rateLimit: 1m, rateLimitScope: process}
        """

    /// An argument-less exec hook runs as tp_btf where the kernel has it (after the process
    /// sensor's own program, whatever perf users the tracepoint has); otherwise classic.
    func testExecHookWithoutArgumentsRunsAsTpBTF() throws {
        let exec = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: exec}
            spec:
              tracepoints:
              - subsystem: sched
                event: sched_process_exec
                selectors:
                - matchBinaries: [{operator: Prefix, values: ["/tmp/"]}]
            """
        XCTAssertEqual(try XCTUnwrap(compile(exec, Self.env(Self.hostFeatures.union([.tpBTF]))).get().first).flavour, .execBTF)
        XCTAssertEqual(try XCTUnwrap(compile(exec, Self.host).get().first).flavour, .tracepoint)
        XCTAssertEqual(try XCTUnwrap(compile(Self.fim, Self.env(Self.hostFeatures.union([.tpBTF]))).get().first).flavour, .syscallExit)
    }

    /// An open whose filename a selector judges runs at the syscall's exit: the filename slot is
    /// the file behind the returned descriptor (falling back to the name, resolved, when the
    /// open was refused), the other arguments the registers the call was entered with.
    func testTracepointHookIsSpecializedFromTheFormat() throws {
        let plan = try XCTUnwrap(compile(Self.fim, Self.host).get().first)
        XCTAssertEqual(plan.flavour, .syscallExit)
        XCTAssertEqual(plan.attach, .tracepoint(subsystem: "syscalls", event: "sys_exit_openat"))
        XCTAssertEqual(plan.event, "sys_enter_openat", "the event keeps the policy's name")
        XCTAssertEqual(plan.config.hook_id, 7)
        XCTAssertEqual(plan.config.nargs, 2)
        XCTAssertEqual(plan.config.nselectors, 1)
        XCTAssertEqual(plan.config.args.0.kind, VIGIL_ARG_INT)
        XCTAssertEqual(plan.config.args.0.source, 0, "dfd: syscall argument 0, from the registers")
        XCTAssertEqual(plan.config.args.0.size, 4, "`int dfd` occupies 8 bytes; the policy's int reads 4")
        XCTAssertEqual(plan.config.args.1.kind, VIGIL_ARG_FD)
        XCTAssertEqual(plan.config.args.1.source, 1, "the filename register, for a refused open")
        XCTAssertEqual(plan.config.args.1.size_arg, 1, "1 + the dirfd's register")
        XCTAssertEqual(plan.config.args.1.flags & (VIGIL_ARGF_RETURN | VIGIL_ARGF_PATHNAME_FALLBACK), VIGIL_ARGF_RETURN | VIGIL_ARGF_PATHNAME_FALLBACK)
        XCTAssertNotEqual(plan.config.args.1.flags & VIGIL_ARGF_USER, 0, "syscall pointers are user memory")
        let sel = plan.config.selectors.0
        XCTAssertEqual(sel.nfilters, 2)
        XCTAssertEqual(sel.filters.0.op, VIGIL_OP_PREFIX)
        XCTAssertEqual(sel.filters.0.slot, 1)
        XCTAssertEqual(sel.filters.1.op, VIGIL_OP_EQ)
        XCTAssertEqual(sel.filters.1.nvalues, 1)
        XCTAssertEqual(sel.filters.1.values.0, -100)
        XCTAssertEqual(sel.binary_op, VIGIL_OP_POSTFIX)
        XCTAssertEqual(sel.actions.0.kind, VIGIL_ACT_POST)
        XCTAssertEqual(sel.actions.0.rate_ns, 60_000_000_000)
        XCTAssertEqual(sel.actions.0.scope, VIGIL_SCOPE_PROCESS)
        // Two short prefixes: compared inline (two little-endian words each), no trie entries.
        XCTAssertEqual(sel.filters.0.nvalues, 2)
        XCTAssertEqual(sel.filters.0.set, 0)
        XCTAssertEqual(sel.filters.0.inline_lens.0, 5)
        XCTAssertEqual(sel.filters.0.values.0, Int64(bitPattern: 0x2f_63_74_65_2f), "\"/etc/\" as a little-endian word")
        XCTAssertTrue(plan.sets.strings.isEmpty)
        XCTAssertEqual(plan.sets.reversedStrings.map { String(decoding: $0.bytes, as: UTF8.self) }, ["tac/"], "Postfix members are stored reversed")
        // A long value goes to the trie.
        let long = try XCTUnwrap(compile(Self.fim.replacingOccurrences(of: "\"/usr/\"", with: "\"/usr/share/very/long/prefix/\""), Self.host).get().first)
        XCTAssertEqual(long.config.selectors.0.filters.0.nvalues, 0)
        XCTAssertEqual(long.sets.strings.map { String(decoding: $0.bytes, as: UTF8.self) }, ["/etc/", "/usr/share/very/long/prefix/"])
        XCTAssertEqual(Set(long.sets.strings.map(\.set)).count, 1)
        XCTAssertNotEqual(long.sets.strings.first?.set, long.sets.reversedStrings.first?.set)
    }

    /// Equal and Postfix filters on an opened file: the file's own name is tested before its
    /// walk, against the union of the values' last components ("/" + component, or a Postfix
    /// value without a "/" as it is); a value with no last component leaves the argument ungated.
    func testEqualAndPostfixOnAnOpenedFileGetANameGate() throws {
        func gated(_ selectors: String) throws -> (flags: UInt32, tails: Set<String>) {
            let yaml = Self.fim.replacingOccurrences(
                of: """
                        - matchArgs:
                          - {index: 1, operator: Prefix, values: ["/etc/", "/usr/"]}
                    """, with: selectors)
            let plan = try XCTUnwrap(compile(yaml, Self.host).get().first)
            let spec = plan.config.args.1
            let tails = plan.sets.reversedStrings.filter { $0.set == spec.name_set && spec.name_set != 0 }
            return (spec.flags & (VIGIL_ARGF_NAME_GATE | VIGIL_ARGF_NAME_GATE_ID), Set(tails.map { String(decoding: $0.bytes.reversed(), as: UTF8.self) }))
        }
        let both = try gated(
            """
                - matchArgs:
                  - {index: 1, operator: Postfix, values: ["/.ssh/id_rsa", "_key"]}
                - matchArgs:
                  - {index: 1, operator: Equal, values: ["/etc/shadow", "/etc/gshadow"]}
            """)
        XCTAssertEqual(both.flags, VIGIL_ARGF_NAME_GATE | VIGIL_ARGF_NAME_GATE_ID, "Equal names files: their identity counts too")
        XCTAssertEqual(both.tails, ["/id_rsa", "_key", "/shadow", "/gshadow"])
        let postfix = try gated(
            """
                - matchArgs:
                  - {index: 1, operator: Postfix, values: ["/.bash_history"]}
            """)
        XCTAssertEqual(postfix.flags, VIGIL_ARGF_NAME_GATE, "Postfix has no identity to read")
        XCTAssertEqual(postfix.tails, ["/.bash_history"])
        for ungated in ["{index: 1, operator: Equal, values: [\"/etc/\", \"/etc/shadow\"]}", "{index: 1, operator: NotPostfix, values: [\"/x\"]}"] {
            let g = try gated("    - matchArgs:\n      - \(ungated)")
            XCTAssertEqual(g.flags, 0, ungated)
        }
        let prefixOnly = try XCTUnwrap(compile(Self.fim, Self.host).get().first)
        XCTAssertEqual(prefixOnly.config.args.1.flags & VIGIL_ARGF_NAME_GATE, 0, "Prefix alone: no gate")
    }

    static let kprobeOverride = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: deny-mkdir}
        spec:
          kprobes:
          - call: security_inode_mkdir
            syscall: false
            args:
            - {index: 1, type: dentry}
            selectors:
            - matchArgs:
              - {index: 1, operator: Postfix, values: ["forbidden"]}
              matchActions:
              - {action: Override, argError: -1}
        """

    func testOverrideOnSecurityFunctionUsesFmodRetWhereTheKernelHasIt() throws {
        let plan = try XCTUnwrap(compile(Self.kprobeOverride, Self.full).get().first)
        XCTAssertEqual(plan.flavour, .fmodRet)
        XCTAssertEqual(plan.config.selectors.0.actions.0.kind, VIGIL_ACT_OVERRIDE)
        XCTAssertEqual(plan.config.selectors.0.actions.0.arg, -1)
    }

    func testHostCannotHostKprobesAndSaysWhy() throws {
        guard case .failure(let e) = try compile(Self.kprobeOverride, Self.host) else { return XCTFail("must not compile on the host profile") }
        let text = e.description
        XCTAssertTrue(text.contains("spec.kprobes[0]"), text)
        XCTAssertTrue(text.contains("fentry: fentry unavailable"), text)
        XCTAssertTrue(text.contains("kprobe: kprobe unavailable"), text)
    }

    static let socketConnectDeny = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: deny}
        spec:
          lsmhooks:
          - hook: socket_connect
            args: [{index: 0, type: socket}, {index: 1, type: sockaddr}, {index: 2, type: int}]
            selectors:
            - matchArgs:
              - {index: 1, operator: DAddr, values: ["10.0.0.0/8"]}
              - {index: 1, operator: DPort, values: ["22"]}
              matchActions: [{action: Override, argError: -1}]
        """

    func testSocketConnectRunsAsLSMWhereTheKernelHasIt() throws {
        let plans = try compile(Self.socketConnectDeny, Self.fullCgroup).get()
        XCTAssertEqual(plans.map(\.flavour), [.lsm])
    }

    func testSocketConnectIsLoweredToCgroupProgramsWithoutLSM() throws {
        let plans = try compile(Self.socketConnectDeny, Self.hostCgroup).get()
        XCTAssertEqual(plans.map(\.flavour), [.cgroupConnect4, .cgroupConnect6])
        XCTAssertEqual(plans.map(\.config.hook_id), [7, 8], "one hook id per program")
        XCTAssertTrue(
            plans.allSatisfy { $0.family == .lsm && $0.functionName == "socket_connect" && $0.attach == .cgroupRoot },
            "events keep the hook's own shape")
        XCTAssertEqual(plans[0].config.flags & VIGIL_HOOKF_TCP_ONLY, 0)
    }

    func testLoweringNeedsCgroupProgramsAndSaysBothReasons() throws {
        guard case .failure(let e) = try compile(Self.socketConnectDeny, Self.host) else { return XCTFail("no tier at all") }
        XCTAssertTrue(e.description.contains("lsm"), e.description)
        XCTAssertTrue(e.description.contains("cgroup sock_addr programs"), e.description)
    }

    func testTcpConnectOverrideIsLoweredEvenWithKprobes() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: deny}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs: [{index: 0, operator: DPort, values: ["22"]}]
                  matchActions: [{action: Override, argError: -1}]
            """
        let plans = try compile(yaml, Self.fullCgroup).get()
        XCTAssertEqual(plans.map(\.flavour), [.cgroupConnect4, .cgroupConnect6], "tcp_connect is not error-injectable")
        XCTAssertNotEqual(plans[0].config.flags & VIGIL_HOOKF_TCP_ONLY, 0)
        let post = yaml.replacingOccurrences(of: "{action: Override, argError: -1}", with: "{action: Post}")
        XCTAssertEqual(try compile(post, Self.fullCgroup).get().map(\.flavour), [.fentry], "without Override: the function hook")
    }

    func testLoweredFormRefusesFiltersOnArgumentsItCannotRead() throws {
        let yaml = Self.socketConnectDeny.replacingOccurrences(
            of: "- {index: 1, operator: DPort, values: [\"22\"]}",
            with: "- {index: 2, operator: Equal, values: [\"16\"]}")
        guard case .failure(let e) = try compile(yaml, Self.hostCgroup) else { return XCTFail("int filter in a cgroup program") }
        XCTAssertTrue(e.description.contains("cannot be filtered there"), e.description)
    }

    func testMonitorModeSetsTheFlagAndNeedsNoOverrideTier() throws {
        let monitor = Self.kprobeOverride.replacingOccurrences(of: "spec:\n", with: "spec:\n  options:\n  - {name: policy-mode, value: monitor}\n")
        let plan = try XCTUnwrap(compile(monitor, Self.env([.kprobe, .tracepoint])).get().first)
        XCTAssertEqual(plan.flavour, .kprobe)
        XCTAssertNotEqual(plan.config.flags & VIGIL_HOOKF_MONITOR, 0)
    }

    /// followChildren beside a plain matchBinaries entry: the plain one filters the binary, the
    /// followed list becomes a request the loader turns into a slot (numbered 1 + index, NotIn flagged).
    func testFollowChildrenCompilesToAFollowRequestBesideThePlainBinaryFilter() throws {
        let yaml = Self.fim.replacingOccurrences(
            of: "matchBinaries:\n      - {operator: Postfix, values: [\"/cat\"]}",
            with:
                "matchBinaries:\n      - {operator: Postfix, values: [\"/cat\"]}\n      - {operator: NotIn, values: [\"/usr/bin/apt-get\"], followChildren: true}"
        )
        let plan = try XCTUnwrap(compile(yaml, Self.host).get().first)
        XCTAssertEqual(plan.follows, [["/usr/bin/apt-get"]])
        let sel = plan.config.selectors.0
        XCTAssertEqual(sel.follow, 1 | VIGIL_FOLLOW_NOT_IN)
        XCTAssertEqual(sel.binary_op, VIGIL_OP_POSTFIX, "the plain entry still filters the binary")
        let two = yaml.replacingOccurrences(
            of: "- {operator: Postfix, values: [\"/cat\"]}", with: "- {operator: In, values: [\"/usr/bin/cat\"], followChildren: true}")
        let refused = PolicyLoader.parse(Array(two.utf8), file: "two.yaml")
        XCTAssertEqual(
            refused.diagnostics.map(\.description),
            ["two.yaml:16:7: error: spec.tracepoints[0].selectors[0].matchBinaries: 2 matchBinaries entries with followChildren; at most 1 per selector"])
    }

    func testUnsupportedPiecesRefuseTheWholePolicy() throws {
        let yaml = Self.fim.replacingOccurrences(
            of: "matchBinaries:\n      - {operator: Postfix, values: [\"/cat\"]}",
            with: "matchPIDs:\n      - {operator: In, values: [1], followForks: true}")
        guard case .failure(let e) = try compile(yaml, Self.host) else { return XCTFail("followForks is not run in the kernel yet") }
        XCTAssertTrue(e.description.contains("followForks"), e.description)
        let kret = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: kret}
            spec:
              kprobes:
              - call: fd_install
                syscall: false
                return: true
                args: [{index: 0, type: int}]
                returnArg: {index: 0, type: int}
            """
        guard case .failure(let e2) = try compile(kret, Self.env([.kprobe, .tracepoint])) else { return XCTFail("kretprobes cannot read arguments") }
        XCTAssertTrue(e2.description.contains("kretprobe cannot read arguments"), e2.description)
        XCTAssertEqual(try compile(kret, Self.full).get().first?.flavour, .fexit, "fexit reads arguments and the return value")
    }

    func testMatchReturnArgsFilterTheReturnSlot() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: failed-opens}
            spec:
              kprobes:
              - call: sys_openat
                return: true
                args: [{index: 1, type: string}]
                returnArg: {index: 0, type: int}
                selectors:
                - matchArgs: [{index: 1, operator: Prefix, values: ["/etc/"]}]
                  matchReturnArgs: [{index: 0, operator: LessThan, values: ["0"]}]
            """
        let plan = try XCTUnwrap(compile(yaml, Self.full).get().first)
        XCTAssertEqual(plan.flavour, .fexit)
        XCTAssertEqual(plan.returnSlot, 1, "the return value gets its own slot after the arguments")
        XCTAssertEqual(plan.config.args.1.flags & VIGIL_ARGF_RETURN, VIGIL_ARGF_RETURN)
        XCTAssertEqual(plan.config.args.1.flags & VIGIL_ARGF_SIGNED, VIGIL_ARGF_SIGNED)
        XCTAssertEqual(plan.config.selectors.0.nfilters, 2)
        XCTAssertEqual(plan.config.selectors.0.filters.1.slot, 1)
        XCTAssertEqual(plan.config.selectors.0.filters.1.op, VIGIL_OP_LT)
        guard case .failure(let e) = try compile(yaml, Self.env([.kprobe, .tracepoint])) else { return XCTFail("kretprobes cannot read the arguments") }
        XCTAssertTrue(e.description.contains("kretprobe cannot read arguments"), e.description)
    }

    func testSocketAddressesAndPorts() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: connect}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: NotDAddr, values: ["127.0.0.0/8", "::1"]}
                  - {index: 0, operator: DPort, values: ["22", "8000:8080"]}
            """
        let plan = try XCTUnwrap(compile(yaml, Self.full).get().first)
        XCTAssertEqual(plan.flavour, .fentry)
        let f = plan.config.selectors.0.filters
        XCTAssertEqual(f.0.op, VIGIL_OP_NOT_DADDR)
        XCTAssertEqual(plan.sets.strings.map(\.prefixBits), [96 + 8, 128])
        XCTAssertEqual(plan.sets.strings.first?.bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 0])
        XCTAssertEqual(f.1.op, VIGIL_OP_DPORT)
        XCTAssertEqual(f.1.values.0, 22 << 32 | 22)
        XCTAssertEqual(f.1.values.1, 8000 << 32 | 8080)
    }

    /// Tetragon's socket tracking: returnArgAction TrackSock is one more action of every
    /// selector on the return slot; UntrackSock's argSock names a position in args; hooks that
    /// read a socket name its tracked owner (owner_slot) and share the owners map.
    func testTrackSockAndUntrackSockCompileToActionsOnSocketSlots() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: socks}
            spec:
              kprobes:
              - call: sk_alloc
                syscall: false
                return: true
                args: [{index: 1, type: int}]
                returnArg: {index: 0, type: sock}
                returnArgAction: TrackSock
                selectors:
                - matchArgs: [{index: 1, operator: Equal, values: ["2"]}]
              - call: inet_csk_accept
                syscall: false
                return: true
                returnArg: {index: 0, type: sock}
                returnArgAction: TrackSock
              - call: __sk_free
                syscall: false
                args: [{index: 0, type: int}, {index: 0, type: sock}]
                selectors:
                - matchActions: [{action: UntrackSock, argSock: 1}]
              - call: tcp_set_state
                syscall: false
                args: [{index: 1, type: int}]
              - call: tcp_set_state
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs: [{index: 0, operator: State, values: ["TCP_SYN_RECV", "TCP_LISTEN"]}]
            """
        let plans = try compile(yaml, Self.full).get()
        XCTAssertEqual(plans.count, 5)
        XCTAssertEqual(plans[4].config.selectors.0.filters.0.op, VIGIL_OP_STATE)
        XCTAssertEqual(plans[4].config.selectors.0.filters.0.nvalues, 2)
        XCTAssertEqual(plans[4].config.selectors.0.filters.0.values.0, 3)
        XCTAssertEqual(plans[4].config.selectors.0.filters.0.values.1, 10)
        let alloc = plans[0]
        XCTAssertEqual(alloc.returnSlot, 1)
        XCTAssertEqual(alloc.config.selectors.0.nactions, 2, "Post, then TrackSock")
        XCTAssertEqual(alloc.config.selectors.0.actions.1.kind, VIGIL_ACT_TRACK_SOCK)
        XCTAssertEqual(alloc.config.selectors.0.actions.1.arg, 1, "the return slot")
        XCTAssertEqual(alloc.config.owner_slot, 2, "1 + the first socket slot")
        XCTAssertTrue(alloc.usesTrackedSockets)
        let accept = plans[1]
        XCTAssertEqual(accept.config.nselectors, 0)
        XCTAssertEqual(accept.config.selectors.0.nactions, 2, "the no-selector hook's Post, then TrackSock")
        XCTAssertEqual(accept.config.selectors.0.actions.1.kind, VIGIL_ACT_TRACK_SOCK)
        let free = plans[2]
        XCTAssertEqual(free.config.selectors.0.actions.0.kind, VIGIL_ACT_UNTRACK_SOCK)
        XCTAssertEqual(free.config.selectors.0.actions.0.arg, 1)
        XCTAssertEqual(free.config.owner_slot, 2)
        XCTAssertFalse(plans[3].usesTrackedSockets, "no socket: the hook keeps its stand-in map")
        XCTAssertEqual(plans[3].config.owner_slot, 0)

        func refusal(_ hook: String) throws -> String {
            let policy = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: bad}\nspec:\n  kprobes:\n" + hook
            guard case .failure(let e) = try compile(policy, Self.full) else {
                XCTFail("refused: \(hook)")
                return ""
            }
            return e.description
        }
        let notASocket = try refusal(
            """
              - call: __sk_free
                syscall: false
                args: [{index: 0, type: int}]
                selectors:
                - matchActions: [{action: UntrackSock, argSock: 0}]
            """)
        XCTAssertTrue(notASocket.contains("argument 0 is int; TrackSock and UntrackSock take a sock or socket argument"), notASocket)
        let intReturn = try refusal(
            """
              - call: sk_alloc
                syscall: false
                return: true
                returnArg: {index: 0, type: int}
                returnArgAction: TrackSock
            """)
        XCTAssertTrue(intReturn.contains("returnArgAction: TrackSock needs returnArg of type sock or socket"), intReturn)
    }

    /// `list:NAME` values become the listed syscalls' numbers; bad lists are refused with the reason.
    func testSyscallListValuesBecomeSyscallNumbers() throws {
        func yaml(_ lists: String, _ value: String) -> String {
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: lists}
            spec:
              lists:
            \(lists)
              tracepoints:
              - subsystem: raw_syscalls
                event: sys_enter
                args: [{index: 4, type: uint64}]
                selectors:
                - matchArgs: [{index: 0, operator: InMap, values: ["\(value)", "59"]}]
            """
        }
        let dups = "  - {name: dups, type: syscalls, values: [sys_dup, __x64_sys_dup2, dup3]}"
        let plan = try XCTUnwrap(compile(yaml(dups, "list:dups"), Self.full).get().first)
        XCTAssertEqual(plan.config.selectors.0.filters.0.op, VIGIL_OP_IN_MAP)
        XCTAssertEqual(Set(plan.sets.integers.map(\.1)), [32, 33, 292, 59], "the list's numbers and the plain value")
        for (lists, value, why) in [
            ("  - {name: bad, type: syscalls, values: [sys_not_a_call]}", "list:bad", "list bad: sys_not_a_call is not an x86-64 syscall"),
            ("  - {name: gen, type: generated_syscalls}", "list:gen", "list gen is generated_syscalls"),
        ] {
            guard case .failure(let e) = try compile(yaml(lists, value), Self.full) else {
                XCTFail("refused: \(value)")
                continue
            }
            XCTAssertTrue(e.description.contains("spec.tracepoints[0].selectors[0].matchArgs[0]: \(why)"), e.description)
        }
    }

    /// GetUrl and DnsLookup are marked in the kernel and carried out by the agent: the plan keeps
    /// them per selector; URLs the agent cannot fetch, and a NoPost beside them, are refused.
    func testGetUrlAndDnsLookupArePlannedPerSelector() throws {
        func yaml(_ actions: String) -> String {
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: canary}
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args: [{index: 6, type: string}]
                selectors:
                - matchArgs: [{index: 0, operator: Equal, values: ["/etc/shadow"]}]
                - matchArgs: [{index: 0, operator: Equal, values: ["/etc/passwd"]}]
                  matchActions:
            \(actions)
            """
        }
        let plan = try XCTUnwrap(
            compile(
                yaml("      - {action: GetUrl, argUrl: \"http://canary.example:8080/t/abc?x=1\"}\n      - {action: DnsLookup, argFqdn: abc.canary.example}"),
                Self.host
            ).get().first)
        XCTAssertEqual(plan.userActions.count, 2)
        XCTAssertEqual(plan.userActions[0], [], "selector 0 only posts")
        XCTAssertEqual(plan.userActions[1], [.getURL(HTTPURL(host: "canary.example", port: 8080, target: "/t/abc?x=1")), .dnsLookup("abc.canary.example")])
        XCTAssertEqual(plan.config.selectors.1.actions.0.kind, VIGIL_ACT_GET_URL)
        XCTAssertEqual(plan.config.selectors.1.actions.1.kind, VIGIL_ACT_DNS_LOOKUP)
        for (actions, why) in [
            ("      - {action: GetUrl, argUrl: \"https://canary.example/t\"}", "argUrl: https needs TLS"),
            ("      - {action: GetUrl, argUrl: \"ftp://x\"}", "argUrl: not an http:// URL"),
            ("      - {action: GetUrl, argUrl: \"http://x/a b\"}", "argUrl: the path must be ASCII without spaces"),
            ("      - {action: DnsLookup, argFqdn: x.example}\n      - {action: NoPost}", "NoPost in the same selector leaves nothing to act on"),
        ] {
            guard case .failure(let e) = try compile(yaml(actions), Self.host) else {
                XCTFail("refused: \(actions)")
                continue
            }
            XCTAssertTrue(e.description.contains(why), e.description)
        }
        XCTAssertEqual(HTTPURL.parse("http://[::1]:81").map(\.description), .success("http://[::1]:81/"))
        XCTAssertEqual(HTTPURL.parse("http://h?q").map(\.target), .success("/?q"))
    }

    func testPartialLoadIsOptIn() throws {
        let mixed = Self.kprobeOverride.replacingOccurrences(of: "spec:\n", with: "spec:\n  tracepoints:\n  - {subsystem: syscalls, event: sys_enter_openat}\n")
        guard case .failure = try compile(mixed, Self.host) else { return XCTFail("all or nothing by default") }
        let partial = mixed.replacingOccurrences(of: "spec:\n", with: "spec:\n  options:\n  - {name: allow-partial-load, value: \"true\"}\n")
        let compiled = try PolicyCompiler.compile(policy(partial), firstHookID: 1, environment: Self.host).get()
        XCTAssertEqual(compiled.plans.map(\.flavour), [.tracepoint])
        XCTAssertEqual(compiled.skipped.count, 1)
        XCTAssertTrue(compiled.skipped[0].description.contains("security_inode_mkdir"))
    }

    func testHookIDsAreConsecutiveAcrossHooks() throws {
        let yaml = Self.fim.replacingOccurrences(of: "  tracepoints:\n", with: "  tracepoints:\n  - {subsystem: syscalls, event: sys_enter_openat}\n")
        let plans = try compile(yaml, Self.host).get()
        XCTAssertEqual(plans.map(\.config.hook_id), [7, 8])
        XCTAssertEqual(plans[0].config.nselectors, 0)
        XCTAssertEqual(plans[0].config.selectors.0.actions.0.kind, VIGIL_ACT_POST, "no selectors: every call posts")
    }

    static func uprobe(
        path: String = "/bin/sh", symbols: String = "[readline, main]", args: String = "[{index: 0, type: int32}, {index: 1, type: string}]",
        extra: String = "", selectors: String = ""
    ) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: user-fn}
        spec:
          uprobes:
          - path: "\(path)"
            symbols: \(symbols)
            args: \(args)\(extra)\(selectors)
        """
    }

    /// One uprobe plan per symbol, arguments read from the process's memory.
    func testUprobeIsOnePlanPerSymbolWithUserArguments() throws {
        let plans = try compile(Self.uprobe(), Self.env(Self.hostFeatures.union([.uprobe]))).get()
        XCTAssertEqual(plans.map(\.attach), [.uprobe(binary: "/bin/sh", symbol: "readline", offset: 0), .uprobe(binary: "/bin/sh", symbol: "main", offset: 0)])
        XCTAssertEqual(plans.map(\.flavour), [.uprobe, .uprobe])
        XCTAssertEqual(plans.map(\.family), [.uprobe, .uprobe])
        XCTAssertEqual(plans.map(\.path), ["/bin/sh", "/bin/sh"])
        XCTAssertEqual(plans.map(\.functionName), ["readline", "main"])
        XCTAssertEqual(plans[0].config.nargs, 2)
        XCTAssertEqual(plans[0].config.args.0.flags & VIGIL_ARGF_USER, VIGIL_ARGF_USER)
        XCTAssertEqual(plans[0].config.args.1.flags & VIGIL_ARGF_USER, VIGIL_ARGF_USER, "a string is read from user memory")
        XCTAssertEqual(plans[0].config.args.1.kind, VIGIL_ARG_STRING)
        // offsets (stripped binaries): one plan each, after the symbols, reported by offset
        let both = try compile(Self.uprobe(symbols: "[main]", extra: "\n    offsets: [4096]"), Self.env(Self.hostFeatures.union([.uprobe]))).get()
        XCTAssertEqual(both.map(\.attach), [.uprobe(binary: "/bin/sh", symbol: "main", offset: 0), .uprobe(binary: "/bin/sh", symbol: nil, offset: 4096)])
        XCTAssertEqual(both.map(\.offset), [nil, 4096])
        XCTAssertEqual(both.map(\.functionName), ["main", ""])
        // Tetragon's container view of the host (/procRoot) is /proc for an agent on the host
        let host = try compile(Self.uprobe(path: "/procRoot/1/root/bin/sh", symbols: "[main]"), Self.env(Self.hostFeatures.union([.uprobe]))).get()
        XCTAssertEqual(host.map(\.attach), [.uprobe(binary: "/proc/1/root/bin/sh", symbol: "main", offset: 0)])
        XCTAssertEqual(host.map(\.path), ["/procRoot/1/root/bin/sh"], "events name the policy's path, as Tetragon's do")
    }

    /// What a uprobe cannot be here, each refused with the reason.
    func testUprobeRefusalsSayWhy() throws {
        func reason(_ yaml: String, _ env: KernelEnvironment) throws -> String {
            guard case .failure(let e) = try compile(yaml, env) else {
                XCTFail("compiled: \(yaml)")
                return ""
            }
            return e.description
        }
        let withUprobes = Self.env(Self.hostFeatures.union([.uprobe]))
        var text = try reason(Self.uprobe(), Self.host)
        XCTAssertTrue(text.contains("spec.uprobes[0]") && text.contains("uprobe: uprobe unavailable"), text)
        text = try reason(Self.uprobe(path: "/no/such/binary"), withUprobes)
        XCTAssertTrue(text.contains("no file /no/such/binary on this host"), text)
        text = try reason(Self.uprobe(args: "[{index: 0, type: file}]"), withUprobes)
        XCTAssertTrue(text.contains("a uprobe reads user-space values"), text)
        text = try reason(Self.uprobe(extra: "\n    offsets: [4096]\n    refCtrOffsets: [8192]"), withUprobes)
        XCTAssertTrue(text.contains("refCtrOffsets and addrs are not attached"), text)
        // (Override on a uprobe is refused by the parser already: PolicyYAML's selector checks)
        let kill = try compile(Self.uprobe(selectors: "\n    selectors:\n    - matchActions: [{action: Sigkill}]"), withUprobes).get()
        XCTAssertEqual(kill[0].config.selectors.0.actions.0.kind, VIGIL_ACT_SIGKILL, "Sigkill is sent from the uprobe (bpf_send_signal)")
    }
}
