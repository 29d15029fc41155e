import Foundation
import Testing

/// deploy/kubernetes and deploy/Containerfile, checked as far as a machine without a container
/// engine or a cluster can: the manifests against Kubernetes' own schemas (offline), the
/// configuration they carry against av1relay itself, and the image's runtime packages against
/// what the binary links.
@Suite("Deployment: Kubernetes manifests and the Containerfile")
struct DeploymentTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")
    static let kubernetes = deploy.appendingPathComponent("kubernetes")

    /// The manifests (every .yaml but the kustomization), by file name.
    static func manifests() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: kubernetes.path)
            .filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" }.sorted()
    }

    /// A program's exit status and its output (stdout and stderr together).
    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (Int32, String) {
        let child = try Child(path, arguments, environment: environment)
        guard let status = child.wait(seconds: 120) else { throw TestError("\(path) \(arguments) did not exit in 120 s") }
        return (status, child.text)
    }

    /// `python3 -c script arguments…` (PyYAML comes with kubernetes-validate, which make test installs).
    static func python(_ script: String, _ arguments: [String] = []) throws -> (Int32, String) {
        try run("/usr/bin/env", ["python3", "-c", script] + arguments)
    }

    @Test("every manifest validates offline against the Kubernetes schemas, strictly")
    func manifestsValidate() throws {
        let files = try Self.manifests().map { Self.kubernetes.appendingPathComponent($0).path }
        #expect(files.count >= 6)
        let (status, output) = try Self.run("/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict"] + files)
        #expect(status == 0, "\(output)")
        // Every resource was checked, none passed for want of a schema.
        #expect(!output.contains("Couldn't find schema"), "\(output)")
        #expect(output.components(separatedBy: " passed for resource ").count - 1 == files.count, "\(output)")
    }

    @Test("the validator fails a manifest with a field Kubernetes does not have")
    func validatorCanFail() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("av1relay-deploy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try String(contentsOf: Self.kubernetes.appendingPathComponent("statefulset.yaml"), encoding: .utf8)
        let broken = original.replacingOccurrences(of: "hostNetwork: true", with: "hostNetworking: true")
        #expect(broken != original)
        let path = dir.appendingPathComponent("statefulset.yaml").path
        try broken.write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try Self.run("/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict", path])
        #expect(status != 0, "\(output)")
    }

    @Test("the kustomization lists every manifest")
    func kustomizationComplete() throws {
        let script = """
            import sys, yaml
            print("\\n".join(yaml.safe_load(open(sys.argv[1]))["resources"]))
            """
        let (status, output) = try Self.python(script, [Self.kubernetes.appendingPathComponent("kustomization.yaml").path])
        #expect(status == 0, "\(output)")
        let listed = output.split(separator: "\n").map(String.init).sorted()
        #expect(listed == (try Self.manifests()))
    }

    /// The pod as the kubelet would start it, under `dir`: the ConfigMap's av1relay.conf, the
    /// Secret's placeholder files, the StatefulSet's environment (`$(VAR)` expanded, POD_IP as
    /// 127.0.0.1) and its container script, every mount path moved under `dir` and the script
    /// made to run this av1relay with `--check`.
    static func pod(in dir: URL) throws -> (script: String, environment: [String: String]) {
        let script = """
            import json, sys, yaml, re
            d = sys.argv[1]
            docs = {}
            for f in ("configmap.yaml", "statefulset.yaml", "secret.yaml"):
                doc = yaml.safe_load(open(d + "/" + f))
                docs[doc["kind"]] = doc
            pod = docs["StatefulSet"]["spec"]["template"]["spec"]
            container = pod["containers"][0]
            env = {"POD_IP": "127.0.0.1"}
            for e in container["env"]:
                if "value" in e:
                    env[e["name"]] = re.sub(r"\\$\\(([A-Z_]+)\\)", lambda m: env[m.group(1)], e["value"])
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            print(json.dumps({"config": docs["ConfigMap"]["data"]["av1relay.conf"], "env": env,
                "secrets": docs["Secret"]["stringData"], "command": container["command"],
                "script": container["args"][0], "mounts": mounts}))
            """
        let (status, output) = try python(script, [kubernetes.path])
        guard status == 0, let data = output.data(using: .utf8),
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let config = json["config"] as? String, let environment = json["env"] as? [String: String],
            let secrets = json["secrets"] as? [String: String], let command = json["command"] as? [String],
            let containerScript = json["script"] as? String, let mounts = json["mounts"] as? [String: String]
        else { throw TestError("could not read the manifests: \(output)") }
        #expect(command == ["/bin/sh", "-c"])
        // Every path the pod uses, moved under dir (longest first: /etc/av1relay/config before /etc/av1relay).
        var moves: [(String, String)] = []
        for (name, path) in mounts {
            let local = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
            moves.append((path, local.path))
        }
        moves.sort { $0.0.count > $1.0.count }
        func move(_ text: String) -> String {
            moves.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
        }
        for (name, value) in secrets {
            try value.write(toFile: move("/etc/av1relay/secrets/\(name)"), atomically: true, encoding: .utf8)
        }
        let configPath = move("/etc/av1relay/config/av1relay.conf")
        try move(config).write(toFile: configPath, atomically: true, encoding: .utf8)
        #expect(containerScript.contains("exec /usr/local/bin/av1relay --config /etc/av1relay/config/av1relay.conf \"$@\""))
        let checking = move(containerScript)
            .replacingOccurrences(of: "/usr/local/bin/av1relay", with: Binaries.av1relay)
            .replacingOccurrences(of: "\"$@\"", with: "\"$@\" --check")
        return (checking, environment)
    }

    @Test("the pod's configuration and command pass av1relay --check, with TLS and before it")
    func configurationChecks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("av1relay-pod-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (script, environment) = try Self.pod(in: dir)
        #expect(environment["AV1RELAY_FLEET_SELF"] == "127.0.0.1")
        #expect(environment["AV1RELAY_LISTEN"] == "127.0.0.1:3478")
        // Before the av1relay-tls Secret exists: TLS off.
        let (status, output) = try Self.run("/bin/sh", ["-c", script], environment: environment)
        #expect(status == 0, "\(output)")
        #expect(output.contains("configuration OK"), "\(output)")
        // Without the environment the pod gets, fleet-dns has no fleet-self: the check says so.
        let (bare, bareOutput) = try Self.run("/bin/sh", ["-c", script], environment: [:])
        #expect(bare == 2, "\(bareOutput)")
        #expect(bareOutput.contains("fleet-self"), "\(bareOutput)")
        // With the Secret mounted (a kubernetes.io/tls Secret's tls.crt and tls.key): TLS on, and
        // --check loads the pair.
        let tls = dir.appendingPathComponent("tls")
        let (made, madeOutput) = try Self.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                "/CN=relay.example.com", "-keyout", tls.appendingPathComponent("tls.key").path, "-out",
                tls.appendingPathComponent("tls.crt").path,
            ])
        #expect(made == 0, "\(madeOutput)")
        let (withTLS, tlsOutput) = try Self.run("/bin/sh", ["-c", script], environment: environment)
        #expect(withTLS == 0, "\(tlsOutput)")
        #expect(tlsOutput.contains("configuration OK"), "\(tlsOutput)")
        // A key that does not match its certificate fails the check: TLS really was loaded.
        try "not a key".write(to: tls.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)
        let (badKey, badKeyOutput) = try Self.run("/bin/sh", ["-c", script], environment: environment)
        #expect(badKey == 2, "\(badKeyOutput)")
    }

    @Test("the probes ask the admin API on the port the configuration gives it, on routes that need no token")
    func probesMatchTheAdminAPI() throws {
        let script = """
            import json, sys, yaml
            d = sys.argv[1]
            pod = yaml.safe_load(open(d + "/statefulset.yaml"))["spec"]["template"]["spec"]
            conf = yaml.safe_load(open(d + "/configmap.yaml"))["data"]["av1relay.conf"]
            c = pod["containers"][0]
            listen = [l.split("=", 1)[1].strip() for l in conf.splitlines() if l.strip().startswith("admin-listen")]
            print(json.dumps({"hostNetwork": pod.get("hostNetwork"), "listen": listen,
                "probes": [c[p]["httpGet"] for p in ("readinessProbe", "livenessProbe")]}))
            """
        let (status, output) = try Self.python(script, [Self.kubernetes.path])
        #expect(status == 0, "\(output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        // The kubelet reaches the pod's loopback only when the pod is in the node's network namespace.
        #expect(json["hostNetwork"] as? Bool == true)
        #expect(json["listen"] as? [String] == ["127.0.0.1:9478"])
        let probes = try #require(json["probes"] as? [[String: Any]])
        #expect(probes.map { $0["path"] as? String } == ["/readyz", "/healthz"])
        #expect(probes.allSatisfy { $0["host"] as? String == "127.0.0.1" && $0["port"] as? Int == 9478 })
    }

    /// The Debian package that owns a library file (merged /usr: dpkg may list either path).
    static func package(of library: String) throws -> String? {
        let resolved = URL(fileURLWithPath: library).resolvingSymlinksInPath().path
        var candidates = [library, resolved]
        for p in [library, resolved] {
            if p.hasPrefix("/usr/") { candidates.append(String(p.dropFirst(4))) } else { candidates.append("/usr" + p) }
        }
        for candidate in candidates {
            let (status, output) = try run("/usr/bin/dpkg", ["-S", candidate])
            if status == 0, let owner = output.split(separator: "\n").first?.split(separator: ":").first {
                return String(owner)
            }
        }
        return nil
    }

    @Test("the runtime stage installs exactly the Debian packages the binary links")
    func runtimePackagesMatchLdd() throws {
        let recipe = try String(contentsOf: Self.deploy.appendingPathComponent("Containerfile"), encoding: .utf8)
        // The Swift runtime is linked in, so the toolchain's libraries are not the image's business.
        #expect(recipe.contains("--static-swift-stdlib"))
        guard let runtime = recipe.components(separatedBy: "\nFROM ").last, runtime.hasPrefix("debian:bookworm-slim") else {
            throw TestError("the last stage is not debian:bookworm-slim")
        }
        // `apt-get install -y --no-install-recommends PACKAGES` in the runtime stage.
        guard let install = runtime.components(separatedBy: "--no-install-recommends ").dropFirst().first else {
            throw TestError("the runtime stage installs nothing")
        }
        let installed = Set(install.prefix { $0 != "\\" && $0 != "&" && $0 != "\n" }.split(separator: " ").map(String.init))
        // What debian:bookworm-slim already has of what av1relay links.
        let base: Set<String> = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]

        let (status, ldd) = try Self.run("/usr/bin/ldd", [Binaries.av1relay])
        #expect(status == 0, "\(ldd)")
        var linked: Set<String> = []
        for line in ldd.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard let arrow = parts.firstIndex(of: "=>"), arrow + 1 < parts.count else { continue }
            let library = String(parts[arrow + 1])
            // The toolchain's runtime (libswiftCore, Foundation, Dispatch…): static in the image.
            if library.contains("/swift/") { continue }
            guard let owner = try Self.package(of: library) else {
                throw TestError("no Debian package owns \(library)")
            }
            linked.insert(owner)
        }
        #expect(linked.contains("libssl3"), "\(linked)")
        #expect(linked.subtracting(base) == installed, "links \(linked.sorted()), the runtime stage installs \(installed.sorted())")
    }
}
