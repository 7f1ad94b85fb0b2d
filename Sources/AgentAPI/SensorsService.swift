import AgentRuntime
import Foundation
import GRPCCore
import KernelFeatures
import Logging
import PolicyModel
import SwiftProtobuf
import TetragonAPI

/// Tetragon's FineGuidanceSensors service, answered by a running Vigil agent. Events come
/// from the agent's event bus (each stream its own bounded queue); policy calls run on the
/// agent's policy thread (PolicyService) through its request queue, never on the drain. The deprecated sensor calls and the debug calls
/// answer UNIMPLEMENTED.
struct SensorsService: Tetragon_FineGuidanceSensors.SimpleServiceProtocol {
    let agent: AgentHandle
    let logger: Logger

    // MARK: events

    func getEvents(
        request: Tetragon_GetEventsRequest, response: RPCWriter<Tetragon_GetEventsResponse>, context: ServerContext
    ) async throws {
        let filters = try EventStreamRequest.filters(request)
        let fieldFilters = try EventStreamRequest.fieldFilters(request)
        let subscription = agent.bus.subscribe(filters: filters, fieldFilters: fieldFilters, tetragonKindsOnly: true)
        defer { agent.bus.unsubscribe(subscription) }
        logger.info("GetEvents stream opened", metadata: ["peer": "\(context.remotePeer)", "subscribers": "\(agent.bus.count)"])
        var reportedDrops: UInt64 = 0
        var undecodable = 0
        while true {
            let next = await withTaskCancellationHandler {
                await subscription.next()
            } onCancel: {
                subscription.close()
            }
            guard let (lines, dropped) = next else { break }
            if dropped > reportedDrops {
                // this stream read too slowly: say how many it lost, as Tetragon's rate-limit info
                var info = Tetragon_RateLimitInfo()
                info.numberOfDroppedProcessEvents = dropped - reportedDrops
                var m = Tetragon_GetEventsResponse()
                m.rateLimitInfo = info
                m.nodeName = agent.configuration.nodeName
                try await response.write(m)
                reportedDrops = dropped
            }
            for line in lines.split(separator: 10) {
                do {
                    try await response.write(try EventStreamRequest.response(line: line))
                } catch let e as RPCError {
                    throw e
                } catch {
                    undecodable += 1
                    if undecodable <= 3 {
                        logger.error("an event does not parse as Tetragon's GetEventsResponse", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }

    // MARK: health and identity

    func getHealth(request: Tetragon_GetHealthStatusRequest, context: ServerContext) async throws -> Tetragon_GetHealthStatusResponse {
        var h = Tetragon_HealthStatus()
        h.event = .status
        switch agent.readiness.current {
        case .ready:
            h.status = .healthStatusRunning
            let s = agent.stats.snapshot
            let up = Int(Date().timeIntervalSince(agent.startedAt))
            h.details =
                "ready: every configured policy is attached; up \(up) s; \(s.policies.count) policies; "
                + "\(s.exportedByType.values.reduce(0, +)) events exported, \(s.kernelLostTotal) lost in the kernel, "
                + "\(s.subscriberDrops) dropped for slow subscribers; \(s.subscribers) subscribers"
        case .starting:
            h.status = .healthStatusStopped
            h.details = "starting: policies are still loading"
        case .stopping:
            h.status = .healthStatusStopped
            h.details = "stopping"
        }
        var r = Tetragon_GetHealthStatusResponse()
        r.healthStatus = [h]
        return r
    }

    func getVersion(request: Tetragon_GetVersionRequest, context: ServerContext) async throws -> Tetragon_GetVersionResponse {
        var r = Tetragon_GetVersionResponse()
        r.version = VigilVersion.string
        return r
    }

    func getInfo(request: Tetragon_GetInfoRequest, context: ServerContext) async throws -> Tetragon_GetInfoResponse {
        var r = Tetragon_GetInfoResponse()
        r.version = VigilVersion.string
        r.name = "vigil"
        r.probes = KernelFeature.allCases.map { f in
            var p = Tetragon_GetInfoResponse.Probe()
            p.name = f.rawValue
            p.enabled = Google_Protobuf_BoolValue(FeatureProbe.shared.isSupported(f))
            return p
        }
        let c = agent.configuration
        var conf: [(String, String)] = [
            ("node-name", c.nodeName), ("export-file", c.exportFile ?? ""), ("export-stdout", "\(c.exportStdout)"),
            ("policy-dir", c.policyDirectory ?? ""), ("policy", c.policyFiles.joined(separator: ",")),
            ("api-policy-dir", c.apiPolicyDirectory), ("server-address", c.serverAddress ?? ""),
            ("enable-ancestors", "\(c.enableAncestors)"), ("enable-process-cred", "\(c.enableProcessCred)"),
            ("enable-process-ns", "\(c.enableProcessNS)"), ("rb-size", "\(c.ringBufferBytes)"),
            ("process-cache-size", "\(c.processCacheSize)"), ("network-sensor", "\(c.networkSensor)"), ("datapath", "\(c.datapath)"),
        ]
        conf.sort { $0.0 < $1.0 }
        r.conf = try conf.map { key, value in
            var v = Tetragon_GetInfoResponse.ConfVal()
            v.key = key
            v.value = try Google_Protobuf_Any(message: Google_Protobuf_StringValue(value))
            return v
        }
        var build = Tetragon_GetInfoResponse.BuildInfo()
        build.goVersion = "swift"
        r.build = build
        return r
    }

    // MARK: tracing policies

    func addTracingPolicy(request: Tetragon_AddTracingPolicyRequest, context: ServerContext) async throws -> Tetragon_AddTracingPolicyResponse {
        let yaml = request.yaml
        guard !yaml.isEmpty else { throw RPCError(code: .invalidArgument, message: "yaml is empty: send the TracingPolicy text") }
        do {
            let names = try await agent.control.perform { agent in try agent.addPolicy(yaml: yaml) }
            logger.info("AddTracingPolicy", metadata: ["policies": "\(names.joined(separator: ","))"])
        } catch {
            throw Self.rpcError(error)
        }
        return Tetragon_AddTracingPolicyResponse()
    }

    func deleteTracingPolicy(
        request: Tetragon_DeleteTracingPolicyRequest, context: ServerContext
    ) async throws -> Tetragon_DeleteTracingPolicyResponse {
        let name = request.name
        do { try await agent.control.perform { agent in try agent.deletePolicy(name: name) } } catch { throw Self.rpcError(error) }
        return Tetragon_DeleteTracingPolicyResponse()
    }

    func listTracingPolicies(
        request: Tetragon_ListTracingPoliciesRequest, context: ServerContext
    ) async throws -> Tetragon_ListTracingPoliciesResponse {
        let views = try await agent.control.perform { agent in agent.policyViews() }
        var r = Tetragon_ListTracingPoliciesResponse()
        r.policies = views.enumerated().map { PolicyStatusView.message($1, id: $0 + 1) }
        return r
    }

    func configureTracingPolicy(
        request: Tetragon_ConfigureTracingPolicyRequest, context: ServerContext
    ) async throws -> Tetragon_ConfigureTracingPolicyResponse {
        let name = request.name
        let enable: Bool? = request.hasEnable ? request.enable : nil
        var mode: PolicyMode? = nil
        if request.hasMode {
            switch request.mode {
            case .tpModeEnforce: mode = .enforce
            case .tpModeMonitor: mode = .monitor
            default: throw RPCError(code: .invalidArgument, message: "mode: TP_MODE_ENFORCE or TP_MODE_MONITOR")
            }
        }
        guard enable != nil || mode != nil else { throw RPCError(code: .invalidArgument, message: "nothing to change: set enable or mode") }
        try await configure(name, enable: enable, mode: mode)
        return Tetragon_ConfigureTracingPolicyResponse()
    }

    func enableTracingPolicy(request: Tetragon_EnableTracingPolicyRequest, context: ServerContext) async throws -> Tetragon_EnableTracingPolicyResponse {
        try await configure(request.name, enable: true, mode: nil)
        return Tetragon_EnableTracingPolicyResponse()
    }

    func disableTracingPolicy(
        request: Tetragon_DisableTracingPolicyRequest, context: ServerContext
    ) async throws -> Tetragon_DisableTracingPolicyResponse {
        try await configure(request.name, enable: false, mode: nil)
        return Tetragon_DisableTracingPolicyResponse()
    }

    private func configure(_ name: String, enable: Bool?, mode: PolicyMode?) async throws {
        guard !name.isEmpty else { throw RPCError(code: .invalidArgument, message: "name is empty: say which policy") }
        do {
            try await agent.control.perform { agent in try agent.configurePolicy(name: name, enable: enable, mode: mode) }
        } catch {
            throw Self.rpcError(error)
        }
    }

    // MARK: not served

    func listSensors(request: Tetragon_ListSensorsRequest, context: ServerContext) async throws -> Tetragon_ListSensorsResponse {
        throw RPCError(code: .unimplemented, message: "ListSensors is deprecated upstream; use ListTracingPolicies")
    }

    func enableSensor(request: Tetragon_EnableSensorRequest, context: ServerContext) async throws -> Tetragon_EnableSensorResponse {
        throw RPCError(code: .unimplemented, message: "EnableSensor is deprecated upstream and not served")
    }

    func disableSensor(request: Tetragon_DisableSensorRequest, context: ServerContext) async throws -> Tetragon_DisableSensorResponse {
        throw RPCError(code: .unimplemented, message: "DisableSensor is deprecated upstream and not served")
    }

    func removeSensor(request: Tetragon_RemoveSensorRequest, context: ServerContext) async throws -> Tetragon_RemoveSensorResponse {
        throw RPCError(code: .unimplemented, message: "RemoveSensor is deprecated upstream and not served")
    }

    func runtimeHook(request: Tetragon_RuntimeHookRequest, context: ServerContext) async throws -> Tetragon_RuntimeHookResponse {
        throw RPCError(code: .unimplemented, message: "RuntimeHook (container runtime hooks) is not served")
    }

    func getDebug(request: Tetragon_GetDebugRequest, context: ServerContext) async throws -> Tetragon_GetDebugResponse {
        throw RPCError(code: .unimplemented, message: "GetDebug is not served")
    }

    func setDebug(request: Tetragon_SetDebugRequest, context: ServerContext) async throws -> Tetragon_SetDebugResponse {
        throw RPCError(code: .unimplemented, message: "SetDebug is not served")
    }

    /// A refusal from the agent as a gRPC status the caller can act on.
    static func rpcError(_ error: Error) -> RPCError {
        if let e = error as? RPCError { return e }
        if error is AgentStopped { return RPCError(code: .unavailable, message: "the agent is stopping") }
        if let r = error as? PolicyRequestRefusal {
            switch r.kind {
            case .invalid: return RPCError(code: .invalidArgument, message: r.description)
            case .exists: return RPCError(code: .alreadyExists, message: r.description)
            case .notFound: return RPCError(code: .notFound, message: r.description)
            case .ownedElsewhere: return RPCError(code: .failedPrecondition, message: r.description)
            case .failed: return RPCError(code: .failedPrecondition, message: r.description)
            }
        }
        return RPCError(code: .internalError, message: "\(error)")
    }
}
