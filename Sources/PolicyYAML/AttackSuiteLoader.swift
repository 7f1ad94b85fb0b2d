import Foundation
import PolicyModel

/// Reads an attack-test file for `vigil policy test` (format: PolicyModel/AttackTest.swift),
/// with positioned errors; a file with any error yields no suite.
public enum AttackSuiteLoader {
    public static func load(path: String) -> (suite: AttackSuite?, diagnostics: [PolicyDiagnostic]) {
        switch PolicyFile.read(path) {
        case .success(let bytes): return parse(bytes, file: path)
        case .failure(let d): return (nil, [d])
        }
    }

    /// Tiers a case may name (the hook tier a detection's forms run as).
    public static let tiers = ["tracepoint", "lsm"]

    public static func parse(_ bytes: [UInt8], file: String) -> (suite: AttackSuite?, diagnostics: [PolicyDiagnostic]) {
        let docs: [(root: YAMLNode?, start: SourceMark)]
        switch PolicyFile.documents(bytes, file: file) {
        case .success(let x): docs = x
        case .failure(let d): return (nil, [d])
        }
        let d = Diagnostics(file: file)
        guard docs.count == 1, let root = docs[0].root else {
            d.error(SourceMark(line: 1, column: 1), "", "an attack-test file is one YAML document with policies and cases")
            return (nil, d.errors)
        }
        guard let top = MappingReader(root, path: "", keys: ["policies", "setup", "teardown", "cases"], d) else { return (nil, d.errors) }
        let policies = top.strings("policies", required: "the policy files the cases run against").map(\.value)
        let setup = top.strings("setup").map(\.value)
        var cases: [AttackCase] = []
        for item in top.items("cases", required: "the attacks and benign neighbours") {
            if let c = attackCase(item.node, item.path, file: file, d) {
                if cases.contains(where: { $0.name == c.name }) { d.error(item.node.mark, item.path, "case \"\(c.name)\" is named twice") }
                cases.append(c)
            }
        }
        let suite = AttackSuite(file: file, policies: policies, setup: setup, teardown: top.strings("teardown").map(\.value), cases: cases)
        return (d.isEmpty ? suite : nil, d.errors)
    }

    static func attackCase(_ node: YAMLNode, _ path: String, file: String, _ d: Diagnostics) -> AttackCase? {
        let keys = ["name", "class", "access", "user", "mountNamespace", "steps", "benign", "expect", "tiers"]
        guard let m = MappingReader(node, path: path, keys: keys, d), let name = m.string("name", required: "what the case tries") else { return nil }
        let steps = m.strings("steps", required: "shell commands, the last one the attack").map(\.value)
        var c = AttackCase(name: name, steps: steps, location: SourceLocation(file: file, line: node.mark.line, column: node.mark.column))
        c.attackClass = m.string("class")
        c.access = m.string("access")
        if let a = c.access, !["read", "write", "exec"].contains(a) {
            d.error(m.mark("access"), m.sub("access"), "access is read, write or exec, found \"\(a)\"")
        }
        c.user = m.string("user")
        c.mountNamespace = m.bool("mountNamespace") ?? false
        c.benign = m.bool("benign") ?? false
        if let e = m.value("expect") { c.expect = expectation(e, m.sub("expect"), d) }
        for (k, v) in m.pairs("tiers") {
            guard let tier = k.scalar else { continue }
            guard tiers.contains(tier) else {
                d.error(k.mark, m.sub("tiers"), "unknown tier \"\(tier)\"; tiers: \(tiers.joined(separator: ", "))")
                continue
            }
            if let e = expectation(v, "\(m.sub("tiers")).\(tier)", d) { c.tiers[tier] = e }
        }
        if c.expect == nil && c.tiers.count < tiers.count && !c.benign {
            d.error(m.node.mark, m.sub("expect"), "say what must happen: expect (every tier) or tiers (each of \(tiers.joined(separator: ", ")))")
        }
        if c.benign && c.expect == nil { c.expect = AttackExpectation(outcome: .nothing) }
        if c.benign, let e = c.expect, e.outcome != .nothing { d.error(m.mark("expect"), m.sub("expect"), "a benign neighbour expects nothing") }
        return c
    }

    /// `nothing`, or a mapping with one of event / killed / denied / nothing, and an optional limit.
    static func expectation(_ node: YAMLNode, _ path: String, _ d: Diagnostics) -> AttackExpectation? {
        if let s = node.scalar {
            guard s == "nothing" else {
                d.error(node.mark, path, "expected nothing or a mapping with event, killed, denied or nothing, found \"\(s)\"")
                return nil
            }
            return AttackExpectation(outcome: .nothing)
        }
        let outcomes = AttackExpectation.Outcome.allCases.map(\.rawValue)
        guard let m = MappingReader(node, path: path, keys: outcomes + ["limit"], d) else { return nil }
        let given = outcomes.filter { m.has($0) }
        guard given.count == 1, let outcome = AttackExpectation.Outcome(rawValue: given[0]) else {
            d.error(node.mark, path, "give exactly one of \(outcomes.joined(separator: ", "))")
            return nil
        }
        var e = AttackExpectation(outcome: outcome, limit: m.string("limit"))
        // `killed: true` is enough; a mapping names the event's fields
        if outcome != .nothing, let v = m.value(outcome.rawValue), v.scalar == nil,
            let em = MappingReader(v, path: m.sub(outcome.rawValue), keys: ["policy", "path", "binary"], d)
        {
            e.event = AttackEventMatch(policy: em.string("policy"), path: em.string("path"), binary: em.string("binary"))
        }
        return e
    }
}
