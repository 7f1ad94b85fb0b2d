import AgentCore
import BPFKit
import CMalloc
import CVigilABI
import Datapath
import EventJSON
import Export
import Foundation
import Logging
import NetworkPolicy
import PolicyEngine
import PolicyModel
import PolicyYAML
import Sensors
import Synchronization

/// Set by SIGINT/SIGTERM; the loop checks it between polls.
let stopRequested = Atomic<Bool>(false)
/// Set by SIGHUP: re-read the policy files.
let reloadRequested = Atomic<Bool>(false)

/// The node agent: base sensor in the kernel, process cache, JSON export.
///
/// The drain thread (the one that calls `run`) does the hot path, in order: poll the ring
/// buffer (records are decoded in place, turned into events and encoded into one output
/// buffer), write the buffer to the sinks as whole lines, report loss. No lock, no queue
/// between stages. Policies load and unload on a thread of their own (PolicyService): the
/// drain sees their hooks' plans through a PlanTable and never waits for the verifier.
public final class Agent {
    public let configuration: AgentConfiguration
    let logger: Logger
    /// GetUrl / DnsLookup of posted hook records, off the event path.
    let userSpaceActions: UserSpaceActionRunner
    let clock = KernelClock()
    let sensor: ProcessSensor
    /// nil when disabled, or when the kernel cannot host it (said at start).
    let network: NetworkSensor?
    /// The loaded hooks' plans (the policy thread publishes them) and the drain's copy.
    let plans = PlanTable()
    var planReader: PlanReader
    /// The policies' statuses and hook loss, as the policy thread last published them.
    let policyPublication = PolicyPublication()
    /// The datapath (nil inside when disabled, or when the kernel cannot host it: said at
    /// start) and the periodic upkeep, on its own thread once the agent runs.
    let upkeep: AgentUpkeep
    /// The datapath's ring-buffer loss counter, read by the drain thread (its own descriptor).
    let datapathLost: BPFMap?
    let encoder: EventEncoder
    var sinks: [EventSink] = []
    var cache: ProcessCache
    var detections = ExecDetections()
    let accounts = AccountWatcher()
    var pendingGrants: [(grant: AccountGrant, changedNs: UInt64)] = []
    var statusWriter = StatusFileWriter()
    var output: [UInt8] = []
    var lostReported: [UInt32: UInt64] = [:]
    var decodeErrors = 0
    /// The datapath's drops and audits, one record per pattern and interval (nil: off).
    var flowSummaries: FlowSummarizer?
    /// Pending output at which the ring-buffer drain pauses to write it out.
    static let flushBytes = 1 << 20
    /// Events exported so far (for tests and stats).
    public private(set) var exported = 0
    /// Live subscribers (GetEvents), fed from the drain thread at each flush.
    public let bus = EventBus()
    /// Requests from other threads (the API, the fleet) to the policy thread.
    public let control = AgentControl()
    public let readiness = Readiness()
    /// Counters for metrics and health, published from the loop (never per event).
    public let stats = AgentStats()
    public let fleetStats = FleetStats()
    /// Fleet mode: identities numbered by the fleet's store, and the other nodes' endpoints.
    let clusterIdentities: ClusterIdentities?
    var exportCounts = ExportCounts()
    var exportBytes: UInt64 = 0
    /// Records naming an exec identity the process cache did not hold.
    var processCacheMisses: UInt64 = 0
    /// What other threads (the API) may hold of the agent.
    public var handle: AgentHandle {
        AgentHandle(
            bus: bus, control: control, readiness: readiness, stats: stats, fleet: fleetStats, identities: clusterIdentities, configuration: configuration,
            startedAt: readiness.startedAt)
    }
    /// The drain thread's view of the bus: per subscriber, its encoder (when its field
    /// filters differ from the export's) and the lines pending for the next flush.
    private var busTargets: [BusTarget] = []
    private var busGeneration = -1
    struct BusTarget {
        let subscription: EventSubscription
        let encoder: EventEncoder?
        var pending: [UInt8] = []
        var lines = 0
    }

    /// Loads the sensor and opens the sinks; nothing is attached yet.
    public init(configuration: AgentConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        MemoryRelease.useOneArena()
        clusterIdentities = configuration.kvstore != nil && configuration.datapath ? ClusterIdentities() : nil
        userSpaceActions = UserSpaceActionRunner(logger: logger)
        cache = ProcessCache(capacity: configuration.processCacheSize)
        _ = KernelFilesystems.ensureAll()
        let files = DescriptorLimit.raiseToHard()
        if files.after < 4096 {
            logger.warning(
                "the open-file limit is low for a large policy set (each hook keeps about five descriptors); raise the hard limit (LimitNOFILE=)",
                metadata: ["limit": "\(files.after)"])
        } else if files.after != files.before {
            logger.debug("open-file limit raised to the hard limit", metadata: ["from": "\(files.before)", "to": "\(files.after)"])
        }
        sensor = try ProcessSensor(ringBufferBytes: configuration.ringBufferBytes, useTracepoints: configuration.forceTracepoints ? true : nil)
        planReader = plans.reader()
        if !configuration.networkSensor {
            network = nil
        } else if let why = NetworkSensor.unavailableReason() {
            logger.warning("network sensor not loaded: this kernel lacks what it needs", metadata: ["reason": "\(why)"])
            network = nil
        } else {
            network = try NetworkSensor(
                shared: try sensor.sharedMaps(),
                scanThreshold: configuration.scanThreshold, scanWindowNs: UInt64(configuration.scanWindowSeconds) * 1_000_000_000,
                acceptHook: configuration.acceptHook)
        }
        var datapath: DatapathSources? = nil
        if !configuration.datapath {
            datapathLost = nil
        } else if let why = DatapathKernel.unavailableReason() {
            logger.warning("network datapath not loaded: this kernel lacks what it needs", metadata: ["reason": "\(why)"])
            datapathLost = nil
        } else {
            // its own descriptors of the shared maps: the datapath is handed to the upkeep thread
            let kernel = try DatapathKernel(
                shared: try sensor.sharedMaps().duplicate(),
                pinDirectory: configuration.datapathPinDirectory)
            kernel.fqdnMinTTLSeconds = UInt64(configuration.fqdnMinTTLSeconds)
            if kernel.resumed {
                logger.info("network datapath: taking over from the previous agent", metadata: ["pins": "\(configuration.datapathPinDirectory)"])
            }
            datapathLost = try kernel.lostCountMap()
            datapath = DatapathSources(
                controller: try DatapathController(kernel: kernel, allocator: clusterIdentities ?? LocalIdentityAllocator()),
                endpoints: EndpointManager(stateDirectory: configuration.endpointStateDirectory),
                policyFiles: configuration.netPolicyFiles, policyDirectory: configuration.netPolicyDirectory, cluster: clusterIdentities, logger: logger)
        }
        upkeep = AgentUpkeep(
            datapath: datapath, processes: try sensor.processesMap().duplicate(), statusFile: configuration.datapathStatusFile,
            exposureWindowSeconds: configuration.exposureWindowSeconds)
        encoder = EventEncoder(
            nodeName: configuration.nodeName, hostNamespaces: ProcfsScanner.namespaces(of: "/proc/1"),
            fieldFilters: configuration.fieldFilters, includeCredentials: configuration.enableProcessCred,
            includeNamespaces: configuration.enableProcessNS)
        if configuration.exportStdout { sinks.append(StdoutSink()) }
        if let path = configuration.exportFile {
            sinks.append(
                try RotatingFileSink(
                    path: path, maxBytes: configuration.exportFileMaxBytes,
                    maxBackups: configuration.exportFileBackups, compress: configuration.exportFileCompress))
        }
        output.reserveCapacity(1 << 20)
    }

    /// Runs until SIGINT/SIGTERM (or `stop()`): attaches, seeds from /proc, exports, then
    /// detaches and flushes.
    public func run() throws {
        installSignalHandlers()
        // The drain stops once a batch of output is pending, so it is written out in bounded
        // pieces (memory stays flat under load) and the drain resumes at once.
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { [unowned self] bytes in
            self.handle(bytes)
            return self.output.count < Self.flushBytes
        }
        // Attach first, then scan /proc: a process started in between is seen by both,
        // and the kernel's record (same pid, later identity) simply supersedes the scan.
        try sensor.attach()
        logger.info("process sensor attached", metadata: ["hook.tier": "\(sensor.tier)"])
        let running = seedFromProcfs()
        try flushOutput()
        if let network {
            try network.attach()
            // after the attach, as for processes: a listener opened in between is recorded by
            // the kernel, whose entry the seed does not override
            var metadata: Logger.Metadata = ["accept.hook": "\(network.acceptHook.description)"]
            if network.needsListenerSeed {
                do {
                    metadata["listeners.seeded"] = "\(try network.seed(listeners: ListenerScanner.scan(processes: running)))"
                } catch {
                    // not fatal: connections to those listeners are reported without a process
                    logger.warning("listeners older than the agent not recorded", metadata: ["error": "\(error)"])
                }
            }
            logger.info("network sensor attached", metadata: metadata)
        }
        if let datapathStart = try upkeep.startDatapath(endpointsFile: configuration.endpointsFile, logger: logger) {
            if !datapathStart.bad.isEmpty {
                network?.detach()
                sensor.detach()
                throw AgentStartError(
                    message: "network policies or endpoints failed (nothing of them is left in the kernel):\n" + datapathStart.bad.joined(separator: "\n"))
            }
            logger.info("network datapath attached", metadata: ["endpoints": "\(datapathStart.endpoints)", "policies": "\(datapathStart.policies)"])
        }
        // Policies after the seed: hooks match on binaries from the kernel's process table.
        // The service is made here and, once started, handed whole to its own thread.
        let shared = try sensor.sharedMaps()
        let service = PolicyService(
            configuration: configuration, logger: logger,
            shared: try shared.duplicate(),
            sensorPins: configuration.enforcePinDirectory == nil ? [] : try sensor.pinnables(), plans: plans, readiness: readiness,
            control: control, publication: policyPublication)
        let (errors, unread) = service.start()
        if !errors.isEmpty {
            upkeep.releaseDatapath()
            network?.detach()
            sensor.detach()
            throw AgentStartError(message: "policies failed to load (nothing of them is left in the kernel):\n" + errors.joined(separator: "\n"))
        }
        if unread > 0 {
            // what a previous agent's pinned enforcement wrote while no agent read it
            emit(LostEventsReport(counts: ["agent_down": unread], total: unread, timeNs: KernelClock.nowWallNs()))
        }
        readiness.markReady()
        let loadedCount = policyPublication.statuses.filter { !$0.disabled }.count
        // the policies unload only after the drain's last read (their plans decode it)
        let drained = DispatchSemaphore(value: 0)
        let policyThread = OwnedThread {
            service.run()
            drained.wait()
            service.finish()
        }
        logger.info("ready: every configured policy is attached", metadata: ["policies": "\(loadedCount)"])
        // Start-up (feature probes, kernel BTF for CO-RE, object loads) frees megabytes that
        // glibc keeps in the heap, and touches code it will not run again: hand both back
        // before the long run.
        MemoryRelease.releaseUnusedPages()
        // the datapath's files and the tables' filling from here on off this thread
        upkeep.start()
        // Periodic work between wakeups, on the monotonic clock (the wall clock can step).
        var lastStatusNs: UInt64 = 0
        var lastLossNs: UInt64 = 0
        var lastSummaryNs = KernelClock.nowMonotonicNs()
        var lastAccountsNs = KernelClock.nowMonotonicNs()
        _ = accounts.check()  // the baseline
        if upkeep.hasDatapath && configuration.flowSummarySeconds > 0 { flowSummaries = FlowSummarizer(intervalSeconds: configuration.flowSummarySeconds) }
        func due(_ last: inout UInt64, everyMs ms: UInt64) -> Bool {
            let now = KernelClock.nowMonotonicNs()
            guard now &- last >= ms * 1_000_000 else { return false }
            last = now
            return true
        }
        // The drain thread before the agent's other threads (API streams, metrics) when they
        // share a CPU: a subscriber's work must cost that subscriber its events, never the
        // kernel's ring its records. Nice -10 weighs it about nine to one against them.
        // (who 0 is the calling thread on Linux: threads are tasks)
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, -10) != 0 {
            logger.notice("the drain thread keeps the default priority", metadata: ["errno": "\(errno)"])
        }
        while !stopRequested.load(ordering: .relaxed) {
            try ring.poll(timeoutMs: 100)
            while output.count >= Self.flushBytes {  // stopped early: more is waiting
                try flushOutput()
                try ring.consume()
            }
            // Loss counters are per-CPU map reads, one bpf syscall per map: every 100 ms, not
            // after every wakeup (at 150,000 events/s they took a third of the agent's CPU).
            if due(&lastLossNs, everyMs: 100) { reportLoss() }
            try flushOutput()
            if reloadRequested.exchange(false, ordering: .relaxed) { reload() }
            if due(&lastStatusNs, everyMs: 1000) {
                publishStats()
            }
            if flowSummaries != nil, due(&lastSummaryNs, everyMs: UInt64(configuration.flowSummarySeconds) * 1000) {
                for s in flowSummaries!.flush() { emit(s) }
            }
            if due(&lastAccountsNs, everyMs: 1000) { reportAccountGrants() }
        }
        // no more requests; what the hooks wrote is read with their plans still published, then
        // the policy thread unloads them (pinned enforcement stays in force) and ends
        control.close()
        readiness.markStopping()
        try ring.consume()
        try flushOutput()
        drained.signal()
        policyThread.join()
        bus.closeAll()
        // endpoints stay enforced while no agent runs: the next one takes the pinned state over
        upkeep.stop()
        upkeep.releaseDatapath()
        network?.detach()
        sensor.detach()
        reportLoss()
        try flushOutput()
        for s in sinks {
            try s.flush()
            try s.close()
        }
        logger.info("agent stopped", metadata: ["events.exported": "\(exported)", "cache.evictions": "\(cache.evictions)"])
    }

    /// Asks a running agent to stop (the signal handlers do the same).
    public static func stop() { stopRequested.store(true, ordering: .relaxed) }

    private func installSignalHandlers() {
        stopRequested.store(false, ordering: .relaxed)
        let handler: @convention(c) (Int32) -> Void = { _ in stopRequested.store(true, ordering: .relaxed) }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a signal interrupts the poll, and the loop sees the flag
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        reloadRequested.store(false, ordering: .relaxed)
        var hup = sigaction()
        hup.__sigaction_handler.sa_handler = { _ in reloadRequested.store(true, ordering: .relaxed) }
        sigemptyset(&hup.sa_mask)
        hup.sa_flags = 0
        sigaction(SIGHUP, &hup, nil)
    }

    public var lostTotal: UInt64 { lostReported.values.reduce(0, +) }
    public var processCacheCount: Int { cache.count }

    /// SIGHUP: the export file opened again by name (logrotate moved it) here; the policy
    /// files read again on the policy thread.
    private func reload() {
        for sink in sinks {
            do {
                let path = (sink as? RotatingFileSink)?.path ?? "the export"
                if try sink.reopen() { logger.info("SIGHUP: export reopened: \(path) is a new file") } else { logger.info("SIGHUP: export \(path) unchanged") }
            } catch { logger.error("SIGHUP: export not reopened", metadata: ["error": "\(error)"]) }
        }
        control.post { $0.reload() }
    }

    /// Hands the counters to other threads (metrics, health): once a second, not per event.
    private func publishStats() {
        var s = AgentStats.Snapshot()
        s.exportedByType = exportCounts.byName
        for (kind, n) in lostReported { s.kernelLostByKind[RecordKind(raw: kind)?.lossName ?? "kind_\(kind)"] = n }
        s.decodeErrors = UInt64(decodeErrors)
        s.subscriberDrops = bus.droppedTotal
        s.subscribers = bus.count
        s.exportBytes = exportBytes
        s.processCacheSize = cache.count
        s.processCacheCapacity = cache.capacity
        s.processCacheEvictions = cache.evictions
        s.processCacheMisses = processCacheMisses
        s.policies = policyPublication.statuses
        s.owners = policyPublication.owners
        let datapath = upkeep.published  // computed and measured on the upkeep thread
        s.exposure = datapath.exposure
        s.maps = datapath.occupancy
        s.updated = Date()
        stats.publish(s)
    }

    /// Returns the processes /proc listed.
    private func seedFromProcfs() -> [ProcessEntry] {
        let running = ProcfsScanner.scan(clock: clock)
        for entry in running {
            if cache.current(pid: entry.pid) != nil { continue }  // the kernel already reported a newer image
            cache.insert(entry)
            try? sensor.seed(entry)
            emit(ProcessExecEvent(process: entry, parent: cache.parent(of: entry), ancestors: ancestors(of: entry), timeNs: KernelClock.nowWallNs()))
        }
        return running
    }

    private func ancestors(of entry: ProcessEntry) -> [ProcessEntry] {
        configuration.enableAncestors ? cache.ancestors(of: entry) : []
    }

    /// One record from a ring buffer, by its kind (RecordKind: a new kind does not build until
    /// it has a case here).
    func handle(_ bytes: UnsafeRawBufferPointer) {
        switch RecordKind(of: bytes) {
        case .hook: handleHook(bytes)
        case .network: handleNetwork(bytes)
        case .dns: handleDNS(bytes)
        case .flow: handleFlow(bytes)
        case .fqdn: handleFQDN(bytes)
        case .exec, .exit, .fork: handleProcess(bytes)
        case nil: undecodable("unknown record kind (\(bytes.count) bytes)")
        }
    }

    private func undecodable(_ why: String) {
        decodeErrors += 1
        if decodeErrors <= 10 { logger.warning("undecodable record", metadata: ["error": "\(why)"]) }
    }

    /// exec, fork and exit: the process cache and the exec/exit events.
    func handleProcess(_ bytes: UnsafeRawBufferPointer) {
        let record: ProcessRecord
        do { record = try ProcessRecord.decode(bytes) } catch {
            undecodable("\(error)")
            return
        }
        switch record {
        case .exec(var r):
            r.entry.startTimeNs = clock.wall(boottime: r.startBoottimeNs)
            r.entry = cache.recordExec(r.entry, kernelParent: r.parent)
            let time = clock.wall(monotonic: r.timeNs)
            emit(ProcessExecEvent(process: r.entry, parent: cache.parent(of: r.entry), ancestors: ancestors(of: r.entry), timeNs: time))
            for d in detections.observe(
                r.entry, stdinPipe: r.stdinPipe, stdoutPipe: r.stdoutPipe, stdioSocket: r.stdioSocket, parentStdioSocket: r.parentStdioSocket,
                monotonicNs: r.timeNs, wallNs: time, parent: { self.cache.parent(of: $0) })
            {
                emit(d)
            }
        case .fork(let child, let parent, let pid, _, _):
            cache.recordFork(child: child, kernelParent: parent, pid: pid, startTimeNs: clock.wall(monotonic: child.ktime))
        case .exit(let id, let pid, _, let code, let time):
            let known = cache.entry(id) ?? cache.current(pid: pid)
            guard let process = known else { return }  // never seen: nothing to correlate with
            let signal = code & 0x7f
            let status = signal == 0 ? (code >> 8) & 0xff : 0
            emit(ProcessExitEvent(process: process, parent: cache.parent(of: process), status: status, signal: signal, timeNs: clock.wall(monotonic: time)))
            // what an account tool wrote is judged as it ends: its grants follow its exit in
            // the export, before anything that started after it
            if ExecDetections.isAccountTool(process.binary) { reportAccountGrants(toolEndedNs: clock.wall(monotonic: time)) }
            cache.markExited(process.id)
        }
    }

    /// A policy hook's record: its process and parent from the cache, by exec identity.
    func handleHook(_ bytes: UnsafeRawBufferPointer) {
        guard let (r, loaded) = planReader.decode(bytes) else { return }  // its policy was just unloaded
        for action in r.userActions { userSpaceActions.run(action, policy: loaded.plan.policyName) }
        let p = process(r.process, pid: r.pid, tid: r.tid)
        emit(
            HookEvent(
                family: loaded.plan.family, process: p, parent: cache.parent(of: p), functionName: loaded.plan.functionName,
                subsystem: loaded.plan.subsystem, event: loaded.plan.event, path: loaded.plan.path, offset: loaded.plan.offset, args: r.args,
                returnValue: r.returnValue, action: r.action,
                policyName: loaded.plan.policyName, message: loaded.plan.message, tags: loaded.plan.tags, timeNs: clock.wall(monotonic: r.ktimeNs)))
    }

    /// The process a kernel record names: by exec identity, else the pid's current image, else
    /// a bare entry (a process the cache never saw), with the record's thread.
    private func process(_ id: ExecIdentity?, pid: UInt32, tid: UInt32) -> ProcessEntry {
        let known = id.flatMap { cache.entry($0) }
        if known == nil && id != nil { processCacheMisses &+= 1 }
        var p = known ?? cache.current(pid: pid) ?? ProcessEntry(id: id ?? ExecIdentity(ktime: 0, pid: pid), parent: nil, binary: "")
        p.tid = tid
        return p
    }

    /// A network sensor record: its process and parent from the cache, by exec identity.
    func handleNetwork(_ bytes: UnsafeRawBufferPointer) {
        guard let r = NetworkRecord.decode(bytes) else {
            decodeErrors += 1
            return
        }
        let process = process(r.process, pid: r.pid, tid: r.tid)
        emit(
            NetworkEvent(
                kind: r.kind, process: process, parent: cache.parent(of: process), socket: r.socket, cookie: r.cookie,
                failed: r.failed, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived, durationNs: r.durationNs,
                timeNs: clock.wall(monotonic: r.timeNs)))
    }

    /// A datapath flow: identities named, the opening process from the cache.
    func handleFlow(_ bytes: UnsafeRawBufferPointer) {
        guard let r = FlowRecord.decode(bytes), let namer = upkeep.namer else {
            decodeErrors += 1
            return
        }
        let process = r.pid == 0 ? nil : self.process(r.owner, pid: r.pid, tid: r.tid)
        let event = namer.flowEvent(
            r, process: process, parent: process.flatMap { cache.parent(of: $0) }, timeNs: clock.wall(monotonic: r.timeNs))
        if r.kind == .drop || r.kind == .audit { flowSummaries?.observe(event) }
        if r.ingress && !r.isReply && (r.kind == .new || r.kind == .audit) { upkeep.observeInbound(r, event) }
        emit(event)
    }

    /// A DNS answer the datapath learned for a toFQDNs rule: names later flows to its address.
    func handleFQDN(_ bytes: UnsafeRawBufferPointer) {
        guard let r = FQDNRecord.decode(bytes), let namer = upkeep.namer else {
            decodeErrors += 1
            return
        }
        namer.learned(r)
    }

    /// A DNS packet: parsed here, its socket's owner from the cache.
    func handleDNS(_ bytes: UnsafeRawBufferPointer) {
        guard let r = DNSRecord.decode(bytes), let m = DNSMessage.parse(r.message) else {
            decodeErrors += 1
            return
        }
        let process = r.process.flatMap { cache.entry($0) ?? cache.current(pid: $0.pid) }
        emit(
            DNSEvent(
                process: process, parent: process.flatMap { cache.parent(of: $0) }, direction: r.egress ? "egress" : "ingress",
                socket: r.socket, cookie: r.cookie, id: m.id, isResponse: m.isResponse, rcode: DNSMessage.rcodeName(m.rcode),
                questions: m.questions.map { .init(name: $0.name, type: DNSMessage.typeName($0.type)) },
                answers: m.answers.map { .init(name: $0.name, type: DNSMessage.typeName($0.type), ttl: $0.ttl, data: $0.data) },
                truncated: r.cut || m.incomplete, timeNs: clock.wall(monotonic: r.timeNs)))
    }

    /// Root's powers given to an account (UID 0, a privileged group), read from the files when
    /// an account tool's exit is handled and once a second. The drain runs behind the kernel:
    /// when a tool's exit is handled, a later tool may already have changed the files, so each
    /// grant carries the files' change time and goes to the account tool started last before
    /// it, once a tool that ended after the change has been handled (or after two seconds;
    /// with no tool, to no program: the file-integrity policy reports other writers).
    private func reportAccountGrants(toolEndedNs: UInt64? = nil) {
        let (grants, changedNs) = accounts.check()
        pendingGrants += grants.map { ($0, changedNs) }
        guard !pendingGrants.isEmpty else { return }
        let now = KernelClock.nowWallNs()
        var waiting: [(grant: AccountGrant, changedNs: UInt64)] = []
        for p in pendingGrants {
            guard toolEndedNs.map({ p.changedNs <= $0 }) ?? false || now &- p.changedNs > 2_000_000_000 else {
                waiting.append(p)
                continue
            }
            // a file's change time is the coarse clock's (a tick behind at most): 5 ms of slack
            let tool = detections.accountTool(before: p.changedNs &+ 5_000_000)
            emit(
                DetectionEvent(
                    name: "process_account", detection: p.grant.detection,
                    process: tool ?? ProcessEntry(id: ExecIdentity(ktime: 0, pid: 0), parent: nil, binary: ""),
                    parent: tool.flatMap { cache.parent(of: $0) }, source: nil, message: p.grant.message, tags: p.grant.tags, timeNs: now))
        }
        pendingGrants = waiting
    }

    /// One event to the export and the subscribers. Generic over its kind, so the drain's
    /// events are never boxed: each kind's witnesses are called directly.
    func emit<K: ExportedEvent>(_ event: K) {
        let ancestorPIDs = { [cache] in event.subjectProcess.map { cache.ancestors(of: $0).map(\.pid) } ?? [] }
        let start = output.count
        let admitted = configuration.filters.admits(event, ancestorPIDs: ancestorPIDs)
        if admitted {
            encoder.encode(event, into: &output)
            exported += 1
            exportCounts.count(event)
        }
        // one atomic load per event while nobody subscribes
        if bus.currentGeneration != busGeneration { refreshBusTargets() }
        guard !busTargets.isEmpty else { return }
        let tetragonKind = K.isTetragonKind
        for i in busTargets.indices {
            let sub = busTargets[i].subscription
            guard tetragonKind || !sub.tetragonKindsOnly, sub.filters.admits(event, ancestorPIDs: ancestorPIDs) else { continue }
            if let own = busTargets[i].encoder {
                own.encode(event, into: &busTargets[i].pending)
            } else if admitted {
                busTargets[i].pending.append(contentsOf: output[start...])
            } else {
                encoder.encode(event, into: &busTargets[i].pending)
            }
            busTargets[i].lines += 1
        }
    }

    private func refreshBusTargets() {
        busGeneration = bus.currentGeneration
        let current = bus.snapshot()
        busTargets = current.map { sub in
            if let kept = busTargets.first(where: { $0.subscription === sub }) { return kept }
            let own: EventEncoder? =
                sub.fieldFilters == configuration.fieldFilters
                ? nil
                : EventEncoder(
                    nodeName: encoder.nodeName, hostNamespaces: encoder.hostNamespaces, fieldFilters: sub.fieldFilters,
                    includeCredentials: encoder.includeCredentials, includeNamespaces: encoder.includeNamespaces)
            return BusTarget(subscription: sub, encoder: own)
        }
    }

    /// Hands each subscriber its pending lines (never waits: a full queue drops, counted).
    private func publishToSubscribers() {
        for i in busTargets.indices where busTargets[i].lines > 0 {
            let batch = busTargets[i].pending
            busTargets[i].subscription.deliver(batch, lines: busTargets[i].lines)
            busTargets[i].pending = []
            busTargets[i].lines = 0
        }
    }

    private func reportLoss() {
        guard var counts = try? sensor.lostCounts() else { return }
        if let n = try? network?.lostCount() { counts[RecordKind.network.raw] = n }
        if let datapathLost, let n = try? DatapathKernel.lostCount(datapathLost) { counts[RecordKind.flow.raw] = n }
        // policy hooks count their own ring-buffer losses (per hook); reported under process_hook
        counts[RecordKind.hook.raw] = policyPublication.hookLostTotal
        var delta: [String: UInt64] = [:]
        var total: UInt64 = 0
        for (kind, count) in counts where count > lostReported[kind, default: 0] {
            let d = count - lostReported[kind, default: 0]
            delta[RecordKind(raw: kind)?.lossName ?? "kind_\(kind)"] = d
            total += d
            lostReported[kind] = count
        }
        if total > 0 {
            logger.warning("kernel dropped records: ring buffer full", metadata: ["lost.total": "\(total)"])
            emit(LostEventsReport(counts: delta, total: total, timeNs: KernelClock.nowWallNs()))
        }
    }

    private func flushOutput() throws {
        if !busTargets.isEmpty { publishToSubscribers() }
        guard !output.isEmpty else { return }
        try output.withUnsafeBytes { buf in for s in sinks { try s.write(buf) } }
        exportBytes &+= UInt64(output.count)
        output.removeAll(keepingCapacity: true)
    }
}

/// The agent could not start as configured (e.g. a policy failed to load).
public struct AgentStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
