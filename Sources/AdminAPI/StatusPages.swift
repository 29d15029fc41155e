import Foundation
import Sessions

/// The status pages (`/status`, `/status/devices/{id}`): HTML rendered here, one self-contained
/// document each — inline CSS, an inline SVG chart, no script, no external asset — readable on a
/// phone and in an admin tool's frame. Every dynamic string goes through `escape`; the pages
/// name devices (the caller asked for them) but never an address, a port, a user or a token.
enum StatusPages {
    /// `/status`: a fleet of one at a glance.
    struct Overview {
        struct Device {
            var id: String
            var robot: Bool
            var app: Bool
            var inCall: Bool
        }
        var version: String
        var draining: Bool
        var devices: [Device]
        var sessions: [SessionRecord]
        /// The relay's own figures; nil for a token limited to devices (they are not its devices').
        var allocations: Int?
        var refusals: [(code: String, count: Int)]?
        var now: Date
    }

    /// `/status/devices/{id}`.
    struct Device {
        var id: String
        var live: SessionRegistry.DeviceLive
        var recent: [SessionRecord]
        /// Why the stored sessions are missing, when they are.
        var storeNote: String?
        var lastSeen: String?
        var now: Date
    }

    // MARK: Pages

    static func overview(_ o: Overview) -> String {
        let inCall = o.devices.filter(\.inCall).count
        let refused = o.refusals?.reduce(0) { $0 + $1.count } ?? 0
        let relayWide =
            o.allocations.map { allocations in
                card("Allocations", "\(allocations)", "TURN allocations now") + "\n"
                    + card("Refused, last hour", "\(refused)", refused == 0 ? "no error responses" : "error responses")
            } ?? ""
        var body = """
            <h1>Relay status</h1>
            <p class="muted">av1relay \(escape(o.version))\(o.draining ? " · <strong>draining</strong>: no new allocations" : "") · \
            updated \(escape(clock(o.now))) UTC, every 15 s</p>
            <section class="cards">
            \(card("Devices online", "\(o.devices.count)", "\(inCall) in a call"))
            \(card("Live sessions", "\(o.sessions.count)", grades(o.sessions)))
            \(relayWide)
            </section>
            <h2>Live sessions</h2>

            """
        body += table(
            ["Device", "Quality", "Since", "Loss", "Jitter", "RTT", "Transports"],
            o.sessions.map { s in
                let worst = worstStream(s)
                return [
                    deviceLink(s.deviceID), badge(s.quality.grade) + " " + number(s.quality.mos, 1), escape(duration(s.durationSeconds)),
                    number(worst.loss, 1) + " %", number(worst.jitter, 0) + " ms", s.rttMillis.p50.map(milliseconds) ?? "–",
                    escape(transports(s.transports)),
                ]
            }, empty: "No call is being relayed now.")
        body += "<h2>Devices online</h2>\n"
        body += table(
            ["Device", "Robot", "App", "Call"],
            o.devices.map { [deviceLink($0.id), yes($0.robot), yes($0.app), $0.inCall ? badge("in call") : "–"] },
            empty: "No robot or app holds an allocation here.")
        if let refusals = o.refusals {
            body += "<h2>Refusals in the last hour</h2>\n"
            body += table(
                ["Code", "Meaning", "Count"], refusals.map { [escape($0.code), escape(meaning($0.code)), "\($0.count)"] }, empty: "None.")
        }
        return page(title: "Relay status", body: body)
    }

    static func device(_ d: Device) -> String {
        let live = d.live
        let state: String
        switch (live.robot, live.app, live.session != nil) {
        case (_, _, true): state = badge("in call") + " Online, in a call"
        case (true, true, false): state = badge("online") + " Robot and app online, not in a call"
        case (true, false, _): state = badge("online") + " Robot online"
        case (false, true, _): state = badge("online") + " App online, robot offline"
        default: state = badge("offline") + " Offline"
        }
        var body = """
            <p class="muted"><a href="/status">← Relay status</a></p>
            <h1>Device \(escape(d.id))</h1>
            <p class="state">\(state)</p>
            <p class="muted">Last seen \(d.lastSeen.map { escape(readable($0)) } ?? "never") · updated \(escape(clock(d.now))) UTC, every 15 s</p>

            """
        if let s = live.session {
            body += """
                <h2>Live session</h2>
                <section class="cards">
                \(card("Quality", badge(s.quality.grade), "MOS \(number(s.quality.mos, 1))", raw: true))
                \(card("Round trip", s.rttMillis.p50.map(milliseconds) ?? "–", "median robot ↔ app"))
                \(card("Duration", duration(s.durationSeconds), transports(s.transports)))
                </section>
                \(streamTable(s))

                """
        } else {
            body += "<h2>Live session</h2>\n<p class=\"muted\">Not in a call now.</p>\n"
        }
        body += "<h2>Robot signal, last ten minutes</h2>\n" + signalChart(live.signalTrail, now: d.now.timeIntervalSince1970)
        body += "<h2>Last sessions</h2>\n"
        body += table(
            ["Started", "Duration", "Quality", "Loss", "RTT", "Ended"],
            d.storeNote != nil
                ? []
                : d.recent.map { s in
                    [
                        escape(readable(s.start)), escape(duration(s.durationSeconds)),
                        badge(s.quality.grade) + " " + number(s.quality.mos, 1), number(worstStream(s).loss, 1) + " %",
                        s.rttMillis.p50.map(milliseconds) ?? "–", escape(s.endReason ?? "–"),
                    ]
                }, empty: d.storeNote ?? "No session of this device is stored.")
        return page(title: "Device \(d.id)", body: body)
    }

    /// What a browser without a token sees (401): a form that keeps a token in a cookie.
    static func login(message: String?) -> String {
        page(
            title: "Sign in", refresh: false,
            body: """
                <h1>Relay status</h1>
                <p>These pages need an admin API token (scope <code>read</code> or <code>admin</code>), sent as
                <code>Authorization: Bearer …</code> or entered here once; the browser then keeps it in a cookie
                for this relay's status pages only.</p>
                \(message.map { "<p class=\"error\">\(escape($0))</p>" } ?? "")
                <form method="post" action="/status/login">
                <label for="token">Token</label>
                <input id="token" name="token" type="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button>
                </form>

                """)
    }

    // MARK: Parts

    static func page(title: String, refresh: Bool = true, body: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        \(refresh ? "<meta http-equiv=\"refresh\" content=\"15\">\n" : "")<meta name="referrer" content="same-origin">
        <title>\(escape(title)) · av1relay</title>
        <style>\(style)</style>
        </head>
        <body>
        <main>
        \(body)</main>
        </body>
        </html>

        """
    }

    static let style = """
        :root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--line:#d6dae0;--bg:#fff;--card:#f4f6f8;\
        --good:#1a7f37;--fair:#9a6700;--poor:#cf222e;--off:#6e7781}\
        @media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9aa4ae;--line:#30363d;--bg:#0d1117;--card:#161b22}}\
        body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
        main{max-width:60rem;margin:0 auto;padding:1rem}h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}\
        a{color:inherit}.muted{color:var(--muted)}.error{color:var(--poor)}\
        .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.75rem}\
        .card{background:var(--card);border-radius:.5rem;padding:.75rem}.card .v{font-size:1.6rem;font-weight:600}\
        .card .k,.card .s{color:var(--muted);font-size:.85rem}\
        table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}\
        th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);white-space:nowrap}\
        .badge{display:inline-block;border-radius:1rem;padding:0 .6rem;color:#fff;font-size:.85rem;font-weight:600}\
        .good,.online,.in-call{background:var(--good)}.fair{background:var(--fair)}.poor{background:var(--poor)}.offline{background:var(--off)}\
        svg{width:100%;height:auto;max-width:40rem}svg text{fill:var(--muted);font-size:11px}\
        form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}input{flex:1;min-width:12rem;padding:.4rem}
        """

    static func card(_ key: String, _ value: String, _ sub: String, raw: Bool = false) -> String {
        "<div class=\"card\"><div class=\"k\">\(escape(key))</div><div class=\"v\">\(raw ? value : escape(value))</div><div class=\"s\">\(raw ? sub : escape(sub))</div></div>"
    }

    static func badge(_ word: String) -> String {
        "<span class=\"badge \(escape(word.replacingOccurrences(of: " ", with: "-")))\">\(escape(word))</span>"
    }

    static func deviceLink(_ id: String) -> String {
        let path = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? ""
        return "<a href=\"/status/devices/\(escape(path))\">\(escape(id))</a>"
    }

    static func yes(_ on: Bool) -> String { on ? "online" : "–" }

    static func grades(_ sessions: [SessionRecord]) -> String {
        let count = Dictionary(grouping: sessions, by: \.quality.grade).mapValues(\.count)
        let parts = ["good", "fair", "poor"].compactMap { g in count[g].map { "\($0) \(g)" } }
        return parts.isEmpty ? "no call now" : parts.joined(separator: ", ")
    }

    /// The worst loss and jitter among a session's streams (what its grade is made of).
    static func worstStream(_ s: SessionRecord) -> (loss: Double, jitter: Double) {
        let all = s.directions.values.flatMap(\.values)
        return (all.map(\.lossPercent).max() ?? 0, all.map(\.jitterMillis).max() ?? 0)
    }

    static func streamTable(_ s: SessionRecord) -> String {
        var rows: [[String]] = []
        for (direction, label) in [("robot_to_app", "Robot → app"), ("app_to_robot", "App → robot")] {
            for (kind, st) in (s.directions[direction] ?? [:]).sorted(by: { $0.key < $1.key }) {
                rows.append([
                    label, escape(kind), "\(st.packets)", number(st.lossPercent, 1) + " %", number(st.jitterMillis, 1) + " ms",
                    number(st.bitrateKbps, 0) + " kbit/s", st.frameRate.map { number($0, 1) } ?? "–",
                ])
            }
        }
        return table(["Direction", "Kind", "Packets", "Loss", "Jitter", "Bitrate", "Frames/s"], rows, empty: "No media seen yet.")
    }

    /// A table of `rows` (cells already HTML) under `headers`, or `empty` (text) when there are none.
    static func table(_ headers: [String], _ rows: [[String]], empty: String) -> String {
        guard !rows.isEmpty else { return "<p class=\"muted\">\(escape(empty))</p>\n" }
        let head = headers.map { "<th>\(escape($0))</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>\n" }.joined()
        return "<table><thead><tr>\(head)</tr></thead><tbody>\n\(body)</tbody></table>\n"
    }

    /// The robot's signal over the trail's ten minutes: Wi-Fi RSSI and LTE/NR RSRP (dBm) as lines.
    static func signalChart(_ points: [SessionRegistry.SignalPoint], now: Double) -> String {
        let series: [(name: String, css: String, values: [(Double, Double)])] = [
            ("Wi-Fi RSSI", "var(--good)", points.compactMap { p in p.wifiRSSI.map { (p.unix, $0) } }),
            ("Cellular RSRP", "#0969da", points.compactMap { p in p.rsrp.map { (p.unix, $0) } }),
        ].filter { !$0.values.isEmpty }
        guard !series.isEmpty else { return "<p class=\"muted\">No signal reported in the last ten minutes.</p>\n" }
        let (width, height, left, right, top, bottom) = (600.0, 210.0, 44.0, 10.0, 22.0, 24.0)
        let values = series.flatMap { $0.values.map(\.1) }
        // Whole 10 dB steps around what was seen.
        let low = ((values.min() ?? -100) / 10).rounded(.down) * 10 - (values.min() == values.max() ? 10 : 0)
        let high = ((values.max() ?? -40) / 10).rounded(.up) * 10 + (values.min() == values.max() ? 10 : 0)
        let span = SessionRegistry.trailSeconds
        func x(_ t: Double) -> Double { left + (width - left - right) * max(0, min(1, (t - (now - span)) / span)) }
        func y(_ v: Double) -> Double { top + (height - top - bottom) * (high - v) / max(1, high - low) }
        var svg = """
            <svg viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-labelledby="signal-title" xmlns="http://www.w3.org/2000/svg">
            <title id="signal-title">Robot signal in dBm over the last ten minutes</title>
            <text x="\(left - 6)" y="10" text-anchor="end">dBm</text>

            """
        var level = low
        while level <= high {
            svg +=
                "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(number(y(level), 1))\" y2=\"\(number(y(level), 1))\" stroke=\"var(--line)\"/>"
                + "<text x=\"\(left - 6)\" y=\"\(number(y(level) + 4, 1))\" text-anchor=\"end\">\(Int(level))</text>\n"
            level += 10
        }
        for minutes in stride(from: 10, through: 0, by: -2) {
            let t = now - Double(minutes) * 60
            svg +=
                "<text x=\"\(number(x(t), 1))\" y=\"\(height - 6)\" text-anchor=\"middle\">\(minutes == 0 ? "now" : "−\(minutes) min")</text>\n"
        }
        for s in series {
            let coordinates = s.values.map { "\(number(x($0.0), 1)),\(number(y($0.1), 1))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(s.css)\" stroke-width=\"2\" points=\"\(coordinates)\"/>\n"
            for (t, v) in s.values {
                svg +=
                    "<circle cx=\"\(number(x(t), 1))\" cy=\"\(number(y(v), 1))\" r=\"2.5\" fill=\"\(s.css)\"><title>\(escape(s.name)) \(Int(v)) dBm</title></circle>\n"
            }
        }
        svg += "</svg>\n"
        let legend = series.map { s in
            let latest = s.values.last.map { "\(Int($0.1)) dBm now" } ?? ""
            return "<span style=\"color:\(s.css)\">●</span> \(escape(s.name)) (\(escape(latest)), \(s.values.count) reports)"
        }
        return svg + "<p class=\"muted\">" + legend.joined(separator: " · ") + "</p>\n"
    }

    // MARK: Words and numbers

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func number(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

    /// A round trip: tenths below 10 ms (loopback, a LAN), whole milliseconds above.
    static func milliseconds(_ v: Double) -> String { number(v, v < 10 ? 1 : 0) + " ms" }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600) h \(s % 3600 / 60) min" : s >= 60 ? "\(s / 60) min \(s % 60) s" : "\(s) s"
    }

    static func transports(_ t: [String: String]) -> String {
        ["robot", "app"].compactMap { role in t[role].map { "\(role) \($0.uppercased())" } }.joined(separator: ", ")
    }

    /// "2026-12-03T10:00:00.000Z" → "2026-12-03 10:00:00 UTC".
    static func readable(_ iso: String) -> String {
        guard iso.count >= 19 else { return iso }
        return iso.prefix(10) + " " + iso.dropFirst(11).prefix(8) + " UTC"
    }

    static func clock(_ date: Date) -> String { readable(SessionRecord.timestamp(date)).replacingOccurrences(of: " UTC", with: "") }

    /// What an error code means, for people.
    static func meaning(_ code: String) -> String {
        switch code {
        case "400": "Bad request"
        case "401": "Unauthenticated (first challenge, or wrong credentials)"
        case "403": "Forbidden (peer address or pairing)"
        case "420": "Unknown attribute"
        case "437": "Allocation mismatch"
        case "438": "Stale nonce"
        case "440": "Address family not supported"
        case "441": "Wrong credentials"
        case "442": "Unsupported transport"
        case "443": "Peer address family mismatch"
        case "446": "Connection already exists"
        case "447": "Connection timeout or failure"
        case "486": "Allocation quota reached"
        case "500": "Server error"
        case "508": "Insufficient capacity (relay ports)"
        default: "Other"
        }
    }
}
