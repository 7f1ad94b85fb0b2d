// swift-tools-version:6.0
import PackageDescription

/// Vigil: runtime security and enforcement for Linux on eBPF.
///
/// Module map (one concern each; see README "Layout"):
/// - C system libraries: CLibbpf, CYAML, CJSONC, CZlib; CMalloc (glibc malloc.h, which the Glibc module lacks).
/// - CVigilABI: the one definition of every struct that crosses the BPF/user boundary.
/// - CBPFShim: the few libbpf calls Swift can't make directly (va_list print callback, BTF walks).
/// - BPFObjects / BPFTestObjects: eBPF objects compiled from bpf/ and embedded in the binary.
/// - BPFKit: typed wrappers over libbpf; the only module that calls libbpf.
/// - KernelFeatures: cached probes of what the running kernel offers, and hook tiers.
/// - PolicyModel: TracingPolicy as Swift values and the concept tables (no libbpf, no kernel; the ABI header for kernel codes).
/// - NetworkPolicy: network policies, label identities and their resolution into datapath map entries (no C, no kernel).
/// - PolicyYAML: libyaml reader, strict decoding and validation with positioned errors.
/// - PolicyEngine: compiles policy hooks into specialized hook programs, loads them atomically, decodes their records.
/// - Datapath: the identity-aware network datapath: endpoints (netns + veth + cgroup), tc programs, their maps, flow records.
/// - VigilCLI: the `vigil` executable.
let package = Package(
    name: "vigil",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vigil", targets: ["VigilCLI"]),
        .executable(name: "vigil-fuzz-policy", targets: ["PolicyFuzz"]),
        .executable(name: "vigil-bench", targets: ["VigilBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .target(name: "CVigilABI"),
        .target(name: "CBPFShim", dependencies: ["CLibbpf"]),
        .plugin(name: "EmbedBPFObjects", capability: .buildTool()),
        .target(name: "BPFObjects", plugins: ["EmbedBPFObjects"]),
        .target(name: "BPFTestObjects", plugins: ["EmbedBPFObjects"]),
        .target(
            name: "BPFKit",
            dependencies: ["CLibbpf", "CBPFShim", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "KernelFeatures", dependencies: ["BPFKit", "BPFObjects"]),
        .target(name: "PolicyModel", dependencies: ["CVigilABI"]),
        .target(name: "NetworkPolicy"),
        .target(name: "PolicyYAML", dependencies: ["PolicyModel", "NetworkPolicy", "CYAML"]),
        .executableTarget(name: "PolicyFuzz", dependencies: ["PolicyYAML"]),
        .target(name: "AgentCore"),
        .target(name: "EventJSON", dependencies: ["AgentCore", "PolicyModel", "CJSONC"]),
        .target(name: "Export", dependencies: ["AgentCore", "CZlib"]),
        .target(name: "Sensors", dependencies: ["AgentCore", "BPFKit", "BPFObjects", "CVigilABI", "KernelFeatures"]),
        .target(name: "PolicyEngine", dependencies: ["AgentCore", "BPFKit", "BPFObjects", "CVigilABI", "KernelFeatures", "PolicyModel", "Sensors"]),
        .target(name: "Datapath", dependencies: ["AgentCore", "BPFKit", "BPFObjects", "CVigilABI", "KernelFeatures", "NetworkPolicy", "Sensors"]),
        .target(
            name: "AgentRuntime",
            dependencies: [
                "AgentCore", "Sensors", "Datapath", "NetworkPolicy", "PolicyEngine", "PolicyModel", "KernelFeatures", "EventJSON", "Export", "BPFKit",
                "PolicyYAML", "CMalloc", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "VigilBench",
            dependencies: [
                "PolicyYAML", "PolicyModel", "BPFKit", "BPFTestObjects", "Datapath", "NetworkPolicy", "AgentCore", "EventJSON", "Sensors", "CVigilABI",
            ]),
        .executableTarget(
            name: "VigilCLI",
            dependencies: [
                "KernelFeatures", "BPFKit", "PolicyModel", "PolicyYAML", "Datapath", "NetworkPolicy", "PolicyEngine", "Sensors", "AgentRuntime", "EventJSON",
                "Export",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "BPFKitTests", dependencies: ["BPFKit", "KernelFeatures", "BPFObjects", "BPFTestObjects", "CVigilABI"]),
        .testTarget(name: "PolicyYAMLTests", dependencies: ["PolicyYAML", "PolicyModel"], resources: [.copy("Fixtures")]),
        .testTarget(name: "NetworkPolicyTests", dependencies: ["NetworkPolicy", "PolicyYAML"]),
        .testTarget(name: "CLITests"),
        .testTarget(name: "PolicyEngineTests", dependencies: ["PolicyEngine", "PolicyYAML", "PolicyModel", "KernelFeatures", "CVigilABI", "AgentCore"]),
        .testTarget(name: "AgentRuntimeTests", dependencies: ["AgentRuntime", "AgentCore"]),
        .testTarget(name: "AgentCoreTests", dependencies: ["AgentCore", "EventJSON", "Export", "Sensors", "CVigilABI"], exclude: ["Golden"]),
        .testTarget(
            name: "KernelTests",
            dependencies: [
                "BPFKit", "KernelFeatures", "BPFObjects", "BPFTestObjects", "CVigilABI", "Sensors", "AgentCore", "PolicyEngine", "PolicyYAML", "PolicyModel",
                "Datapath", "NetworkPolicy", "EventJSON", "AgentRuntime",
            ]
        ),
    ]
)
