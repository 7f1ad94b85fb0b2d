import EventJSON
import Export
import Logging
import Sensors

/// Everything `vigil agent` can be told, from flags or a --config file.
public struct AgentConfiguration: Sendable {
    public var nodeName: String
    public var exportStdout = false
    public var exportFile: String?
    public var exportFileMaxBytes = 10 * 1024 * 1024
    public var exportFileBackups = 5
    public var exportFileCompress = false
    public var filters = ExportFilters()
    public var fieldFilters: [FieldFilter] = []
    public var enableAncestors = false
    /// Capabilities and credentials on processes (Tetragon's --enable-process-cred).
    public var enableProcessCred = false
    /// Namespaces on processes (Tetragon's --enable-process-ns).
    public var enableProcessNS = false
    /// Per ring buffer, bytes (rounded up to a power of two). The consumer maps the data
    /// pages twice, so this counts twice in the agent's RSS: 4 MiB holds about 2,200 exec
    /// records and is woken early at a quarter full.
    public var ringBufferBytes = 4 * 1024 * 1024
    public var processCacheSize = 65536
    /// The network sensor (TCP connect/accept/close, UDP peers, with their process): on by default.
    public var networkSensor = true
    /// Scan detection: this many distinct TCP destinations from one process within
    /// `scanWindowSeconds` raise process_scan (0: off).
    public var scanThreshold: UInt32 = 20
    public var scanWindowSeconds: UInt32 = 5
    /// The datapath's drops and audits summarised per pattern every this many seconds
    /// (`flow_summary` events; 0: off).
    public var flowSummarySeconds: UInt32 = 60
    /// toFQDNs: a DNS answer allows its addresses for at least this long (Cilium's default).
    public var fqdnMinTTLSeconds: UInt32 = 3600
    /// Exposure metrics: inbound flows of this window count as used reach.
    public var exposureWindowSeconds: UInt32 = 86400
    /// How accepts are seen (`AcceptHook`): auto takes fexit where trampolines work, else the
    /// handshake; syscalls is exact everywhere but taxes every syscall on the machine.
    public var acceptHook: AcceptHook = .auto
    /// Force classic tracepoints even where tp_btf works (testing the fallback tier).
    public var forceTracepoints = false
    /// Directory of TracingPolicy files (`*.yaml`, `*.yml`), loaded at start and on SIGHUP.
    public var policyDirectory: String?
    /// Single policy files (`--policy`, repeatable), loaded at start and on SIGHUP.
    public var policyFiles: [String] = []
    /// Where the agent writes its loaded policies and their counters (`vigil policy list` reads it).
    public var statusFile = "/run/vigil/policies.json"

    /// The identity-aware datapath (endpoints, network policy, flow events): on by default;
    /// it costs nothing on traffic that is not to or from an endpoint.
    public var datapath = true
    /// Where endpoint records live (`vigil endpoint create` writes them).
    public var endpointStateDirectory = "/run/vigil/endpoints"
    /// An endpoints file: endpoints created (or adopted) at start when missing.
    public var endpointsFile: String?
    /// Directory of network policy files (CiliumNetworkPolicy, NetworkPolicy), watched.
    public var netPolicyDirectory: String?
    /// Single network policy files (`--netpolicy`, repeatable), watched.
    public var netPolicyFiles: [String] = []
    /// Where the agent writes endpoints, identities and network policies (`vigil netpolicy list`).
    public var datapathStatusFile = "/run/vigil/datapath.json"
    /// bpffs directory where the datapath's maps and links stay when the agent stops, so
    /// endpoints stay enforced across restarts (`vigil netpolicy reset` removes them).
    public var datapathPinDirectory = "/sys/fs/bpf/vigil/datapath"

    /// The gRPC API's address (`unix:///path`), nil for none.
    public var serverAddress: String? = AgentConfiguration.defaultServerAddress
    public static let defaultServerAddress = "unix:///var/run/vigil/vigil.sock"
    /// The same API on TCP too (HOST:PORT), mutual TLS only: the server's certificate and key,
    /// and the CA whose certificates clients must present. nil: no TCP listener.
    public var serverTCPAddress: String? = nil
    public var serverTLSCertFile: String? = nil
    public var serverTLSKeyFile: String? = nil
    public var serverTLSClientCAFile: String? = nil
    /// Policies added through the API, one file each (owned by the API, not by --policy-dir).
    public var apiPolicyDirectory = "/var/lib/vigil/policies"
    /// Where enforcing policies' programs are pinned so they outlive the agent; nil: they do not.
    public var enforcePinDirectory: String? = "/sys/fs/bpf/vigil/enforce"
    /// Stop when the process that started the agent exits (a test runner, a supervisor).
    public var exitWithParent = false
    /// The one-agent-per-node lock (holds the running agent's pid).
    public var lockFile = "/run/vigil/agent.lock"
    /// Replace a running agent (SIGTERM, then its lock) instead of refusing to start.
    public var takeOver = false
    /// Prometheus metrics and health over HTTP (HOST:PORT), nil for none.
    public var metricsAddress: String? = nil
    /// The log's level (trace … critical) and format (text or json), on standard error.
    public var logLevel: Logger.Level = .info
    public var logFormat: AgentLogging.Format = .text

    /// Fleet mode (docs/fleet.md): the kvstore ("etcd", nil: none) and how to reach it.
    public var kvstore: String? = nil
    public var kvstoreEndpoints = ["http://127.0.0.1:2379"]
    public var kvstoreCA: String? = nil
    public var kvstoreCert: String? = nil
    public var kvstoreKey: String? = nil
    public var kvstoreUser: String? = nil
    public var kvstorePasswordFile: String? = nil
    public var kvstorePrefix = "/vigil"
    public var kvstoreLeaseTTL: Int64 = 15
    /// This node's labels, matched against fleet policies' `--nodes`.
    public var nodeLabels: [String: String] = [:]
    /// The fleet policies this node last applied, kept for a start without etcd.
    public var fleetStateDirectory = "/var/lib/vigil/fleet"

    public init(nodeName: String) { self.nodeName = nodeName }
}
