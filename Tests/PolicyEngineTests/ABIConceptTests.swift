import CVigilABI
import PolicyEngine
import PolicyModel
import XCTest

/// The Swift tables and the C lists of vigil_concepts.h name the same values, both ways: a
/// kernel operator, action, flavour or argument kind added on one side only fails here.
final class ABIConceptTests: XCTestCase {
    static func entries(_ kind: vigil_abi_concept_kind) -> [String: UInt32] {
        var ptr: UnsafePointer<vigil_abi_entry>?
        let n = Int(vigil_abi_concept(kind, &ptr))
        var out: [String: UInt32] = [:]
        for i in 0..<n { out[String(cString: ptr![i].name)] = ptr![i].value }
        return out
    }

    func testOperatorsBothWays() {
        let c = Self.entries(VIGIL_CONCEPT_OPS)
        let swift = Set(ArgOperator.allCases.compactMap { $0.rule.kernelCode })
        XCTAssertEqual(Set(c.values), swift, "every C operator has a row in OperatorRules, every row's code is in VIGIL_OP_LIST")
        XCTAssertEqual(c.count, Set(c.values).count, "no two operators share a number")
    }

    func testActionsBothWays() {
        let c = Self.entries(VIGIL_CONCEPT_ACTS)
        XCTAssertEqual(Set(c.values), Set(ActionKind.allCases.compactMap(\.kernelCode)))
        for a in ActionKind.allCases where a.kernelCode == nil {
            XCTAssertNotNil(a.notRunBecause, "\(a.rawValue) is refused with a reason")
        }
    }

    func testFlavoursBothWays() {
        XCTAssertEqual(Set(Self.entries(VIGIL_CONCEPT_HOOK_FLAVOURS).values), Set(HookFlavour.allCases.map(\.code)))
    }

    /// Every argument kind the kernel reads is produced by the compiler, and the reverse.
    func testArgumentKindsBothWays() {
        let c = Set(Self.entries(VIGIL_CONCEPT_ARG_KINDS).values)
        XCTAssertEqual(c, Set(ArgumentLayout.kernelKinds), "ArgumentLayout.kernelKinds lists what the compiler emits")
        var produced = Set(ArgType.allCases.compactMap { try? ArgumentLayout.forFunction($0).get().kind })
        produced.formUnion(ArgumentLayout.loweringKinds)
        for k in ArgumentLayout.kernelKinds where k != VIGIL_ARG_DATA_LOC {
            XCTAssertTrue(produced.contains(k), "kind \(k) is never produced")
        }
    }
}
