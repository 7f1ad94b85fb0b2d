import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// `usdts:`: user static tracepoints. Parsed, not attached: refused with the reason.
enum USDTHook: HookKind {
    static let section = "usdts"
    static var hooks: KeyPath<PolicySpec, [USDTSpec]> { \.usdts }
    static var common: WritableKeyPath<USDTSpec, HookCommon> { \.common }
    static func describe(_ u: USDTSpec) -> String { "usdt \(u.provider):\(u.name)" }
    static func compile(_ u: USDTSpec, _ c: CompileContext) -> Result<[HookPlan], EngineError> {
        .failure(.unsupported("\(c.path): Vigil does not attach USDT probes yet"))
    }
}
