import KernelFeatures
import PolicyModel

/// One kind of hook a TracingPolicy declares: a `spec` section (`kprobes`, `tracepoints`, ...).
/// Each kind is one file in this directory and one line in `HookRegistry.all`; compiling,
/// `vigil policy validate`, `explain`, `try` and `list` iterate the registry, none of them
/// lists hook kinds (docs/extending.md).
protocol HookKind {
    associatedtype Spec
    /// The key under `spec:`, e.g. `kprobes`.
    static var section: String { get }
    /// The policy's hooks of this kind, in file order.
    static var hooks: KeyPath<PolicySpec, [Spec]> { get }
    /// The part every hook has (args, selectors, message, tags).
    static var common: WritableKeyPath<Spec, HookCommon> { get }
    /// How people name one hook, e.g. `kprobe fd_install`, `tracepoint syscalls/sys_enter_openat`.
    static func describe(_ hook: Spec) -> String
    /// The hook's programs on the context's kernel (a hook may need several: one per symbol,
    /// a lowered form's pair), or why it cannot run there.
    static func compile(_ hook: Spec, _ context: CompileContext) -> Result<[HookPlan], EngineError>
}

/// What compiling one hook needs besides the hook.
struct CompileContext {
    var policy: TracingPolicy
    /// The hook's place in the policy, e.g. `spec.kprobes[0]`.
    var path: String
    var env: KernelEnvironment
    /// policy-mode monitor: enforcement actions only report.
    var monitor: Bool
}

/// THE list of hook kinds, in the order their sections are compiled.
enum HookRegistry {
    static let all: [any HookKind.Type] = [KprobeHook.self, FentryHook.self, TracepointHook.self, LSMHook.self, UprobeHook.self, USDTHook.self]

    /// Every hook of `policy`, as (path, description, plans or why not), in registry order.
    static func compileAll(_ policy: TracingPolicy, env: KernelEnvironment) -> [(path: String, hook: String, result: Result<[HookPlan], EngineError>)] {
        var out: [(path: String, hook: String, result: Result<[HookPlan], EngineError>)] = []
        for kind in all { out += compile(kind, policy, env) }
        return out
    }

    /// Every hook's common part (args, selectors) with its path, in registry order.
    static func commons(_ spec: PolicySpec) -> [(String, HookCommon)] {
        all.flatMap { commons($0, spec) }
    }

    private static func commons<K: HookKind>(_ kind: K.Type, _ spec: PolicySpec) -> [(String, HookCommon)] {
        spec[keyPath: K.hooks].enumerated().map { ("spec.\(K.section)[\($0)]", $1[keyPath: K.common]) }
    }

    private static func compile<K: HookKind>(_ kind: K.Type, _ policy: TracingPolicy, _ env: KernelEnvironment) -> [(
        path: String, hook: String, result: Result<[HookPlan], EngineError>
    )] {
        policy.spec[keyPath: K.hooks].enumerated().map { i, written in
            let path = "spec.\(K.section)[\(i)]"
            let context = CompileContext(policy: policy, path: path, env: env, monitor: policy.spec.mode == .monitor)
            // `list:NAME` matchArgs values become the listed syscalls' numbers before anything else
            // selector macros joined first, then `list:NAME` values expanded to syscall numbers
            var hook = written
            let result = SelectorMacros.expanded(written[keyPath: K.common].selectors, macros: policy.spec.selectorsMacros, path: path)
                .flatMap { selectors -> Result<K.Spec, EngineError> in
                    hook[keyPath: K.common].selectors = selectors
                    return SyscallListValues.expanded(hook, K.common, lists: policy.spec.lists, path: path)
                }
                .flatMap { K.compile($0, context) }
            return (path, K.describe(written), result)
        }
    }
}
