import EventJSON
import Export
import Foundation
import Logging
import NetworkPolicy
import PolicyYAML
import Sensors

/// One setting of `vigil agent`: its flag (`--name`), its config-file key (`name:`), its help
/// and how it sets the configuration. THE list of agent settings: the flags, the config file
/// and the help are all made from `AgentOptions.all`, so every flag has a config key with the
/// same meaning and default.
public struct AgentOption: Sendable {
    public enum Kind: Sendable, Equatable {
        /// `--name` alone; `name: true|false` in the file.
        case flag
        /// `--name VALUE` (`valueName` in the help).
        case value(String)
        /// `--name VALUE`, repeatable; a YAML list in the file.
        case list(String)
    }

    public let name: String
    public let kind: Kind
    public let help: String
    /// The default, shown in the help (nil: none, or off for a flag).
    public let defaultValue: String?
    let apply: @Sendable (inout AgentConfiguration, String) throws -> Void

    init(
        _ name: String, _ kind: Kind, _ help: String, default defaultValue: String? = nil,
        _ apply: @escaping @Sendable (inout AgentConfiguration, String) throws -> Void
    ) {
        self.name = name
        self.kind = kind
        self.help = help
        self.defaultValue = defaultValue
        self.apply = apply
    }
}

public enum AgentOptions {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    struct Bad: Error { let why: String }

    static func bool(_ s: String) throws -> Bool {
        if ["true", "yes", "on", "1"].contains(s) { return true }
        if ["false", "no", "off", "0"].contains(s) { return false }
        throw Bad(why: "expected true or false, got \"\(s)\"")
    }

    static func size(_ s: String) throws -> Int {
        guard let n = AgentConfigFile.byteSize(s) else { throw Bad(why: "expected a size like 10M, 64K or 1048576, got \"\(s)\"") }
        return n
    }

    static func integer<T: FixedWidthInteger>(_ s: String, min: T = 0) throws -> T {
        guard let n = T(s), n >= min else { throw Bad(why: "expected a whole number of at least \(min), got \"\(s)\"") }
        return n
    }

    static func listenAddress(_ s: String, example: String) throws {
        do { _ = try ListenAddress(s, example: example) } catch { throw Bad(why: "\(error.why), got \"\(s)\"") }
    }

    /// Every setting, in help order.
    public static let all: [AgentOption] = [
        AgentOption("node-name", .value("NAME"), "Node name in events.", default: "the host name") { $0.nodeName = $1 },
        AgentOption("export-stdout", .flag, "Write events to standard output (the default when no --export-file is given).") { $0.exportStdout = try bool($1) },
        AgentOption("export-file", .value("PATH"), "Write events to this file, rotating by size.") { $0.exportFile = $1 },
        AgentOption("export-file-max-size", .value("SIZE"), "Rotate the export file at this size (10M, 64K, bytes).", default: "10M") {
            $0.exportFileMaxBytes = try size($1)
        },
        AgentOption("export-file-max-backups", .value("N"), "Rotated files to keep.", default: "5") { $0.exportFileBackups = try integer($1) },
        AgentOption("export-file-compress", .flag, "gzip rotated files.") { $0.exportFileCompress = try bool($1) },
        AgentOption("export-allowlist", .value("JSONL"), "Export only events matching one of these filters (JSON objects, one per line; Tetragon's fields).") {
            do { $0.filters.allow = try ExportFilter.list($1) } catch { throw Bad(why: "\(error)") }
        },
        AgentOption("export-denylist", .value("JSONL"), "Drop events matching any of these filters (JSON objects, one per line).") {
            do { $0.filters.deny = try ExportFilter.list($1) } catch { throw Bad(why: "\(error)") }
        },
        AgentOption("field-filters", .value("JSONL"), "Field filters: {\"fields\":\"process.cwd,parent\",\"action\":\"EXCLUDE\"} per line.") {
            do { $0.fieldFilters = try AgentConfigFile.fieldFilters($1) } catch { throw Bad(why: "\(error)") }
        },
        AgentOption("enable-ancestors", .flag, "Add the ancestors list (beyond the parent) to events.") { $0.enableAncestors = try bool($1) },
        AgentOption("enable-process-cred", .flag, "Add capabilities and credentials to processes (cap, process_credentials).") {
            $0.enableProcessCred = try bool($1)
        },
        AgentOption("enable-process-ns", .flag, "Add namespaces to processes (ns).") { $0.enableProcessNS = try bool($1) },
        AgentOption("rb-size", .value("SIZE"), "Ring buffer size.", default: "4M") { $0.ringBufferBytes = try size($1) },
        AgentOption("process-cache-size", .value("N"), "Process cache capacity (entries).", default: "65536") { $0.processCacheSize = try integer($1, min: 1) },
        AgentOption("policy-dir", .value("DIR"), "Directory of TracingPolicy files (*.yaml) to load at start and on SIGHUP.") { $0.policyDirectory = $1 },
        AgentOption("policy", .list("FILE"), "A TracingPolicy file to load (repeatable); re-read on SIGHUP.") { $0.policyFiles.append($1) },
        AgentOption(
            "status-file", .value("PATH"), "Where to write loaded policies and hook counters for `vigil policy list`.", default: "/run/vigil/policies.json"
        ) {
            $0.statusFile = $1
        },
        AgentOption(
            "server-address", .value("ADDRESS"),
            "The gRPC API (Tetragon's FineGuidanceSensors): unix:///PATH (mode 0600, root only), or \"\" for none.",
            default: AgentConfiguration.defaultServerAddress
        ) {
            guard $1.isEmpty || $1.hasPrefix("unix://") else {
                throw Bad(why: "expected unix:///path/to/socket (or \"\" for no API), got \"\($1)\"; TCP is not served yet")
            }
            $0.serverAddress = $1.isEmpty ? nil : $1
        },
        AgentOption(
            "server-tcp-address", .value("HOST:PORT"),
            "The gRPC API on TCP as well (Tetragon's clients default to localhost:54321), mutual TLS only: needs --server-tls-cert-file, --server-tls-key-file and --server-tls-client-ca-file; \"\" for none."
        ) {
            if !$1.isEmpty { try listenAddress($1, example: "127.0.0.1:54321") }
            $0.serverTCPAddress = $1.isEmpty ? nil : $1
        },
        AgentOption("server-tls-cert-file", .value("FILE"), "The TCP API's certificate (PEM; its chain after it).") { $0.serverTLSCertFile = $1 },
        AgentOption("server-tls-key-file", .value("FILE"), "The TCP API's private key (PEM).") { $0.serverTLSKeyFile = $1 },
        AgentOption(
            "server-tls-client-ca-file", .value("FILE"), "CA certificates (PEM) a TCP API client's certificate must chain to; a client without one is refused."
        ) { $0.serverTLSClientCAFile = $1 },
        AgentOption(
            "api-policy-dir", .value("DIR"), "Where policies added through the API are kept (they load again at the next start).",
            default: "/var/lib/vigil/policies"
        ) {
            $0.apiPolicyDirectory = $1
        },
        AgentOption(
            "enforce-pin-dir", .value("DIR"),
            "bpffs directory where enforcing policies stay in force while no agent runs (vigil cleanup removes them); \"\" to end them with the agent.",
            default: "/sys/fs/bpf/vigil/enforce"
        ) {
            guard $1.isEmpty || $1.hasPrefix("/sys/fs/bpf/") else { throw Bad(why: "expected a directory under /sys/fs/bpf/ (bpffs), or \"\", got \"\($1)\"") }
            $0.enforcePinDirectory = $1.isEmpty ? nil : $1
        },
        AgentOption("exit-with-parent", .flag, "Stop (as on SIGTERM) when the process that started the agent exits.") {
            $0.exitWithParent = try bool($1)
        },
        AgentOption(
            "lock-file", .value("PATH"), "One agent per node: the lock a second agent finds (it names the running pid).", default: "/run/vigil/agent.lock"
        ) {
            $0.lockFile = $1
        },
        AgentOption("take-over", .flag, "Replace the running agent (it is sent SIGTERM; this one starts once it has stopped), e.g. for an upgrade.") {
            $0.takeOver = try bool($1)
        },
        AgentOption("log-level", .value("LEVEL"), "The log's level: trace, debug, info, notice, warning, error or critical.", default: "info") {
            guard let level = Logger.Level(rawValue: $1.lowercased()) else {
                throw Bad(why: "unknown level \"\($1)\"; one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            $0.logLevel = level
        },
        AgentOption("log-format", .value("FORMAT"), "The log's format on standard error: text or json (one object per line).", default: "text") {
            guard let format = AgentLogging.Format(rawValue: $1.lowercased()) else { throw Bad(why: "unknown format \"\($1)\"; text or json") }
            $0.logFormat = format
        },
        AgentOption(
            "metrics-address", .value("HOST:PORT"),
            "Serve Prometheus metrics (/metrics) and health (/healthz, /readyz) over HTTP, e.g. 127.0.0.1:2112; \"\" for none."
        ) {
            if !$1.isEmpty { try listenAddress($1, example: "127.0.0.1:2112") }
            $0.metricsAddress = $1.isEmpty ? nil : $1
        },
        AgentOption("disable-network-sensor", .flag, "Do not load the network sensor (process_connect, _accept, _close, _dns, _scan events).") {
            $0.networkSensor = !(try bool($1))
        },
        AgentOption(
            "scan-threshold", .value("N"), "Scan detection: distinct TCP destinations one process may try within --scan-window before process_scan (0: off).",
            default: "20"
        ) {
            $0.scanThreshold = try integer($1)
        },
        AgentOption("scan-window", .value("SECONDS"), "Scan detection window.", default: "5") { $0.scanWindowSeconds = try integer($1, min: 1) },
        AgentOption(
            "flow-summary-interval", .value("SECONDS"),
            "Datapath drops and audits summarised per (source identity, destination identity, protocol, port) as one flow_summary event each SECONDS (0: off).",
            default: "60"
        ) { $0.flowSummarySeconds = try integer($1) },
        AgentOption(
            "fqdn-min-ttl", .value("SECONDS"),
            "toFQDNs: a DNS answer allows its addresses for the endpoint for its TTL, but at least SECONDS (as Cilium's --tofqdns-min-ttl).",
            default: "3600"
        ) { $0.fqdnMinTTLSeconds = try integer($1) },
        AgentOption(
            "exposure-window", .value("SECONDS"),
            "Exposure metrics (vigil_exposure_*): inbound connections of the last SECONDS count as used reach; recomputed every 15 s.",
            default: "86400"
        ) { $0.exposureWindowSeconds = try integer($1, min: 1) },
        AgentOption(
            "accept-hook", .value("HOW"),
            "How accepts are seen: auto (fexit where the kernel has trampolines, else handshake), fexit, handshake, syscalls (taxes every syscall).",
            default: "auto"
        ) {
            guard let h = AcceptHook(rawValue: $1) else {
                throw Bad(why: "expected one of \(AcceptHook.allCases.map(\.rawValue).joined(separator: ", ")), got \"\($1)\"")
            }
            $0.acceptHook = h
        },
        AgentOption("force-tracepoints", .flag, "Run the process sensor on classic tracepoints even where tp_btf works (testing the fallback).") {
            $0.forceTracepoints = try bool($1)
        },
        AgentOption("disable-datapath", .flag, "Do not load the identity-aware network datapath (endpoints, network policy, flow events).") {
            $0.datapath = !(try bool($1))
        },
        AgentOption("endpoints", .value("FILE"), "Endpoints file (YAML): endpoints created or adopted at start when missing.") { $0.endpointsFile = $1 },
        AgentOption("netpolicy-dir", .value("DIR"), "Directory of network policy files (CiliumNetworkPolicy, NetworkPolicy), watched for changes.") {
            $0.netPolicyDirectory = $1
        },
        AgentOption("netpolicy", .list("FILE"), "A network policy file (repeatable), watched for changes.") { $0.netPolicyFiles.append($1) },
        AgentOption("endpoint-state-dir", .value("DIR"), "Endpoint records directory (`vigil endpoint` uses the same).", default: "/run/vigil/endpoints") {
            $0.endpointStateDirectory = $1
        },
        AgentOption(
            "datapath-status-file", .value("PATH"), "Where to write endpoints, identities and network policies for `vigil netpolicy list`.",
            default: "/run/vigil/datapath.json"
        ) { $0.datapathStatusFile = $1 },
        AgentOption(
            "datapath-pin-dir", .value("DIR"), "bpffs directory where the datapath stays in force while no agent runs.", default: "/sys/fs/bpf/vigil/datapath"
        ) {
            $0.datapathPinDirectory = $1
        },
        AgentOption("kvstore", .value("KIND"), "Fleet mode: follow the fleet's tracing policies in a key-value store (etcd), report this node's state there.") {
            guard $1 == "etcd" || $1.isEmpty else { throw Bad(why: "the only kvstore is etcd (or \"\" for none), got \"\($1)\"") }
            $0.kvstore = $1.isEmpty ? nil : $1
        },
        AgentOption("kvstore-endpoints", .value("URL,..."), "etcd's client URLs (http:// or https://), tried in turn.", default: "http://127.0.0.1:2379") {
            let urls = $1.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            guard !urls.isEmpty, urls.allSatisfy({ $0.hasPrefix("http://") || $0.hasPrefix("https://") }) else {
                throw Bad(why: "expected http://HOST:PORT or https://HOST:PORT, comma-separated, got \"\($1)\"")
            }
            $0.kvstoreEndpoints = urls
        },
        AgentOption("kvstore-ca", .value("FILE"), "The CA (PEM) that signed etcd's certificate (https endpoints).") { $0.kvstoreCA = $1 },
        AgentOption("kvstore-cert", .value("FILE"), "This node's client certificate (PEM) for etcd's --client-cert-auth.") { $0.kvstoreCert = $1 },
        AgentOption("kvstore-key", .value("FILE"), "The client certificate's key (PEM).") { $0.kvstoreKey = $1 },
        AgentOption("kvstore-user", .value("NAME"), "etcd user (with auth enabled); the password comes from --kvstore-password-file.") { $0.kvstoreUser = $1 },
        AgentOption("kvstore-password-file", .value("FILE"), "File holding the etcd user's password.") { $0.kvstorePasswordFile = $1 },
        AgentOption("kvstore-prefix", .value("PREFIX"), "Every fleet key lives under this prefix (docs/fleet.md).", default: "/vigil") {
            guard $1.hasPrefix("/"), !$1.hasSuffix("/") else { throw Bad(why: "start it with / and end it without one, e.g. /vigil; got \"\($1)\"") }
            $0.kvstorePrefix = $1
        },
        AgentOption(
            "kvstore-lease-ttl", .value("SECONDS"), "The node's lease: its keys vanish this long after it stops renewing (renewed every third).", default: "15"
        ) {
            $0.kvstoreLeaseTTL = try integer($1, min: 2)
        },
        AgentOption("node-labels", .value("K=V,..."), "This node's labels: fleet policies with --nodes run only where all their labels match.") {
            do { $0.nodeLabels = try Labels.parseList($1) } catch { throw Bad(why: "\(error)") }
        },
        AgentOption(
            "fleet-state-dir", .value("DIR"), "The fleet policies this node last applied (enforced at start while etcd is down).",
            default: "/var/lib/vigil/fleet"
        ) {
            $0.fleetStateDirectory = $1
        },
    ]

    static let byName: [String: AgentOption] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The help text of every setting (flags and config keys are the same names).
    /// One entry per option: the flag on its own line, then its help wrapped at 78 columns
    /// (ArgumentParser re-wraps longer lines and loses the indentation).
    public static var help: String {
        all.map { o in
            let flag: String
            switch o.kind {
            case .flag: flag = "--\(o.name)"
            case .value(let v): flag = "--\(o.name) \(v)"
            case .list(let v): flag = "--\(o.name) \(v)..."
            }
            let text = o.help + (o.defaultValue.map { " (default: \($0))" } ?? "")
            var lines: [String] = []
            var line = ""
            for word in text.split(separator: " ") {
                if !line.isEmpty && line.count + 1 + word.count > 72 {
                    lines.append(line)
                    line = ""
                }
                line += (line.isEmpty ? "" : " ") + word
            }
            if !line.isEmpty { lines.append(line) }
            return "  " + flag + "\n" + lines.map { "      " + $0 }.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Applies command-line arguments (`--name`, `--name VALUE`, `--name=VALUE`) onto `config`.
    /// `--config FILE` is applied first wherever it appears, so flags win over the file.
    public static func parse(_ arguments: [String], into config: inout AgentConfiguration) throws(Failure) {
        var pending: [(AgentOption, String, String)] = []  // option, value, as written
        var configFile: String?
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            guard arg.hasPrefix("--") else { throw Failure(description: "unexpected argument \"\(arg)\"; settings are --name VALUE (vigil agent --help)") }
            var name = String(arg.dropFirst(2))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if name == "config" {
                guard let v = inline ?? (i < arguments.count ? arguments[i] : nil) else { throw Failure(description: "--config: needs a file") }
                if inline == nil { i += 1 }
                configFile = v
                continue
            }
            guard let o = byName[name] else {
                let near = Suggestion.closest(name, all.map(\.name))
                throw Failure(description: "unknown option --\(name)" + (near.map { " (did you mean --\($0)?)" } ?? "") + "; vigil agent --help lists them")
            }
            switch o.kind {
            case .flag:
                pending.append((o, inline ?? "true", arg))
            case .value, .list:
                guard let v = inline ?? (i < arguments.count ? arguments[i] : nil) else { throw Failure(description: "--\(name): needs a value") }
                if inline == nil { i += 1 }
                pending.append((o, v, arg))
            }
        }
        if let configFile {
            try applyFile(path: configFile, to: &config)
        }
        for (o, v, _) in pending {
            do { try o.apply(&config, v) } catch let b as Bad { throw Failure(description: "--\(o.name): \(b.why)") } catch {
                throw Failure(description: "--\(o.name): \(error)")
            }
        }
    }

    /// Applies a YAML config file (keys named like the flags) onto `config`. Errors: FILE:LINE:COL.
    public static func applyFile(path: String, to config: inout AgentConfiguration) throws(Failure) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(path):1:1: error: cannot read the config file (missing or not readable)")
        }
        let docs: [(root: YAMLNode?, start: SourceMark)]
        do { docs = try YAMLReader().documents([UInt8](data)) } catch {
            throw Failure(description: "\(path):\(error.mark): error: \(error.message)")
        }
        guard let root = docs.first?.root else { return }
        guard case .mapping(let pairs) = root.value else {
            throw Failure(description: "\(path):\(root.mark): error: the config is a mapping of setting: value")
        }
        for (k, v) in pairs {
            guard let key = k.scalar, let o = byName[key] else {
                let name = k.scalar ?? "?"
                let near = Suggestion.closest(name, all.map(\.name))
                throw Failure(
                    description: "\(path):\(k.mark): error: unknown setting \"\(name)\"" + (near.map { " (did you mean \"\($0)\"?)" } ?? "")
                        + "; settings: \(all.map(\.name).joined(separator: ", "))")
            }
            var values: [(String, SourceMark)] = []
            if case .sequence(let items) = v.value, case .list = o.kind {
                for item in items {
                    guard let s = item.scalar else { throw Failure(description: "\(path):\(item.mark): error: \(key): each entry is one value") }
                    values.append((s, item.mark))
                }
            } else if let s = v.scalar {
                values.append((s, v.mark))
            } else {
                throw Failure(description: "\(path):\(v.mark): error: \(key) takes \(o.kind == .flag ? "true or false" : "a single value")")
            }
            for (s, mark) in values {
                do { try o.apply(&config, s) } catch let b as Bad { throw Failure(description: "\(path):\(mark): error: \(key): \(b.why)") } catch {
                    throw Failure(description: "\(path):\(mark): error: \(key): \(error)")
                }
            }
        }
    }
}

/// "did you mean" for option names.
enum Suggestion {
    static func closest(_ word: String, _ candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for (i, ca) in a.enumerated() {
                var prev = row[0]
                row[0] = i + 1
                for (j, cb) in b.enumerated() {
                    let cur = row[j + 1]
                    row[j + 1] = min(row[j + 1] + 1, row[j] + 1, prev + (ca == cb ? 0 : 1))
                    prev = cur
                }
            }
            return row[b.count]
        }
        let best = candidates.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
        guard let (c, d) = best, d <= max(2, c.count / 3) else { return nil }
        return c
    }
}
