/// A file of attack tests for `vigil policy test`: policies to load, and cases, each an attack
/// (or a benign neighbour) written as shell steps with the outcome expected on each hook tier.
///
///     policies: [../../policies/credential-access.yaml]   # relative to this file
///     setup: ["echo secret > $SCRATCH/protected"]         # once, as root, before the cases
///     cases:
///     - name: read through a symlink
///       class: symlink            # the evasion class (a row of the README table)
///       access: read              # read | write | exec
///       user: root                # or a user name or uid (runs the steps through setpriv)
///       mountNamespace: false     # true: the steps run in a private mount namespace
///       steps: ["ln -s /etc/shadow $SCRATCH/l", "cat $SCRATCH/l"]
///       expect: {event: {policy: credential-access, path: /etc/shadow}}
///       tiers:                    # per tier, instead of `expect`
///         lsm: {denied: {policy: deny-shadow-read}}
///         tracepoint: {killed: {policy: deny-shadow-read}}
///     - name: reading /etc/passwd stays quiet
///       benign: true
///       steps: ["cat /etc/passwd"]
///       expect: nothing
public struct AttackSuite: Sendable, Equatable {
    public var file: String
    /// Policy files, as written (relative to the suite's directory unless absolute).
    public var policies: [String]
    public var setup: [String]
    /// Run after the cases, even when one failed (to remove what setup or the attacks made).
    public var teardown: [String]
    public var cases: [AttackCase]
    public init(file: String, policies: [String], setup: [String], teardown: [String] = [], cases: [AttackCase]) {
        self.file = file
        self.policies = policies
        self.setup = setup
        self.teardown = teardown
        self.cases = cases
    }
}

/// One attack or benign neighbour.
public struct AttackCase: Sendable, Equatable {
    public var name: String
    /// The evasion or attack class (a row of the README's table), e.g. `symlink`.
    public var attackClass: String?
    /// What the attack does to the file: read, write or exec.
    public var access: String?
    /// Who runs the steps: nil (root), a user name or a numeric uid.
    public var user: String?
    public var mountNamespace: Bool
    /// Shell commands (`/bin/sh -c`), run in order in a fresh scratch directory ($SCRATCH); the
    /// outcome is judged on the last one.
    public var steps: [String]
    public var benign: Bool
    /// The outcome on a tier not listed in `tiers`.
    public var expect: AttackExpectation?
    /// Per hook tier (`tracepoint`, `lsm`): the outcome there.
    public var tiers: [String: AttackExpectation]
    public var location: SourceLocation

    public init(name: String, steps: [String], location: SourceLocation) {
        self.name = name
        self.steps = steps
        self.location = location
        mountNamespace = false
        benign = false
        tiers = [:]
    }

    /// The outcome expected on `tier`.
    public func expectation(on tier: String) -> AttackExpectation? { tiers[tier] ?? expect }
}

/// What must happen.
public struct AttackExpectation: Sendable, Equatable {
    public enum Outcome: String, Sendable, Equatable, CaseIterable {
        /// An event, the attack itself going on.
        case event
        /// The attacking process killed (SIGKILL), having printed nothing.
        case killed
        /// The attacking call refused (non-zero exit, EPERM), having printed nothing.
        case denied
        /// No event from the suite's policies.
        case nothing
    }
    public var outcome: Outcome
    /// The event the outcome needs (not for `nothing`).
    public var event: AttackEventMatch?
    /// A known kernel limit that keeps this tier from doing better: shown in the table.
    public var limit: String?

    public init(outcome: Outcome, event: AttackEventMatch? = nil, limit: String? = nil) {
        self.outcome = outcome
        self.event = event
        self.limit = limit
    }
}

/// Fields an expected event has (each optional; all given must hold).
public struct AttackEventMatch: Sendable, Equatable {
    /// The policy's name, or the start of it (a detection's forms: `credential-access` matches
    /// `credential-access-lsm` and `credential-access-tracepoint`).
    public var policy: String?
    /// A path any file argument of the event shows (the caller's view or the global path).
    public var path: String?
    /// The process's binary.
    public var binary: String?
    public init(policy: String? = nil, path: String? = nil, binary: String? = nil) {
        self.policy = policy
        self.path = path
        self.binary = binary
    }
}
