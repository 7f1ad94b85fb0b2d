import BPFKit
import Foundation
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

/// The setup of every engine test that reads hook records itself (without the agent): the
/// process sensor attached, a policy manager on its maps, one policy loaded. Keep it alive
/// while reading.
struct LoadedPolicy {
    let sensor: ProcessSensor
    let manager: PolicyManager

    init(_ yaml: String, file: String, environment: KernelEnvironment = .running) throws {
        sensor = try ProcessSensor(ringBufferBytes: 1 << 20)
        try sensor.attach()
        manager = PolicyManager(
            shared: .init(try sensor.sharedMaps()),
            environment: environment)
        try manager.load(XCTUnwrap(PolicyLoader.parse(Array(yaml.utf8), file: file).policies.first))
    }

    /// A reader of the shared ring that hands each hook record of the loaded policies to `body`.
    func records(_ body: @escaping (DecodedHookRecord, LoadedPlan) -> Void) throws -> RingBuffer {
        let manager = manager
        return try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            if let (r, plan) = manager.decode(bytes) { body(r, plan) }
            return true
        }
    }
}
