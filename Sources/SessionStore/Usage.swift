import Foundation
import Sessions

/// Usage for billing (issue 15), computed from the session records a store holds and nothing
/// else: over a period `from..<to`, sessions, time relayed, bytes each way and the share of the
/// time by quality grade, in total and by device, UTC day or UTC month.
///
/// A session counts for the part of it inside the period (and inside each day or month of a
/// grouping): one that crosses a boundary is cut there. Its bytes are shared out in proportion
/// to that time (the records hold a session's totals, not when within it they flowed). A live
/// session counts up to its latest interim record.
public struct UsageTally {
    public enum Grouping: String, Sendable, CaseIterable {
        case device, day, month
    }

    public let from: Date
    public let to: Date
    public let grouping: Grouping?
    /// Records that had time in the period.
    public private(set) var records = 0
    var total = Accumulator()
    var groups: [String: Accumulator] = [:]

    /// The grades a record's quality has (README "Quality score").
    public static let grades = ["good", "fair", "poor"]

    public init(from: Date, to: Date, grouping: Grouping?) {
        self.from = from
        self.to = to
        self.grouping = grouping
    }

    struct Accumulator {
        var sessions = 0
        var seconds = 0.0
        var robotToApp = 0.0
        var appToRobot = 0.0
        var secondsByGrade: [String: Double] = [:]

        /// `seconds` of a session whose bytes each way are given, `share` of them in this part.
        mutating func add(seconds: Double, share: Double, bytes: (Double, Double), grade: String) {
            sessions += 1
            self.seconds += seconds
            robotToApp += bytes.0 * share
            appToRobot += bytes.1 * share
            secondsByGrade[grade, default: 0] += seconds
        }
    }

    static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    /// A record's time (ISO 8601, with or without fractions).
    public static func date(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// Adds a session's latest record (records of other periods add nothing).
    public mutating func add(_ record: SessionRecord) {
        guard let start = Self.date(record.start), var end = Self.date(record.end) else { return }
        end = max(end, start)
        let lo = max(start, from), hi = min(end, to)
        // A session of no length counts where it starts.
        guard hi > lo || (end == start && start >= from && start < to) else { return }
        let length = end.timeIntervalSince(start)
        func bytes(_ direction: String) -> Double { Double(record.directions[direction]?.values.reduce(0) { $0 + $1.bytes } ?? 0) }
        let both = (bytes("robot_to_app"), bytes("app_to_robot"))
        let grade = record.quality.grade
        func part(_ a: Date, _ b: Date) -> (seconds: Double, share: Double) {
            let seconds = b.timeIntervalSince(a)
            return (seconds, length > 0 ? seconds / length : 1)
        }
        records += 1
        let whole = part(lo, hi)
        total.add(seconds: whole.seconds, share: whole.share, bytes: both, grade: grade)
        switch grouping {
        case nil: break
        case .device: groups[record.deviceID, default: .init()].add(seconds: whole.seconds, share: whole.share, bytes: both, grade: grade)
        case .day, .month:
            let unit: Calendar.Component = grouping == .day ? .day : .month
            var bucket = Self.calendar.dateInterval(of: unit, for: lo)!
            while true {
                let a = max(lo, bucket.start), b = min(hi, bucket.end)
                if b > a || length == 0 {
                    let p = part(a, b)
                    groups[key(bucket.start), default: .init()].add(seconds: p.seconds, share: p.share, bytes: both, grade: grade)
                }
                guard bucket.end < hi else { break }
                bucket = Self.calendar.dateInterval(of: unit, for: bucket.end)!
            }
        }
    }

    func key(_ start: Date) -> String {
        let c = Self.calendar.dateComponents([.year, .month, .day], from: start)
        let month = String(format: "%04d-%02d", c.year!, c.month!)
        return grouping == .day ? month + String(format: "-%02d", c.day!) : month
    }

    /// The usage `store` holds for `from..<to` (every device, or `device`), counting the records
    /// `covers` lets through (a device-limited token's devices).
    public static func report(
        _ store: any SessionStore, from: Date, to: Date, grouping: Grouping?, device: String? = nil,
        covers: (String) -> Bool = { _ in true }
    ) throws -> UsageReport {
        var tally = UsageTally(from: from, to: to, grouping: grouping)
        for record in try store.sessions(overlapping: SessionRecord.timestamp(from), to: SessionRecord.timestamp(to), device: device)
        where covers(record.deviceID) {
            tally.add(record)
        }
        return tally.report
    }

    /// The report: rows in the order of their group (device id, or time), and the total.
    public var report: UsageReport {
        UsageReport(
            from: SessionRecord.timestamp(from), to: SessionRecord.timestamp(to), groupBy: grouping?.rawValue,
            rows: groups.keys.sorted().map { UsageReport.Row(group: $0, groups[$0]!) }, total: .init(group: nil, total),
            records: records)
    }
}

/// `GET /v1/usage`, `GET /v1/devices/{id}/usage`, `av1relay records usage`.
public struct UsageReport: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    public var groupBy: String?
    public var rows: [Row]
    public var total: Row
    /// Session records that had time in the period.
    public var records: Int

    public struct Row: Codable, Sendable, Equatable {
        /// The device id, day (`2026-12-01`) or month (`2026-12`); nil for the total.
        public var group: String?
        public var sessions: Int
        public var seconds: Double
        public var minutes: Double
        public var bytes: Bytes
        public var minutesByGrade: [String: Double]
        /// Of the minutes, the share (0…1) of each grade.
        public var gradeShare: [String: Double]

        public struct Bytes: Codable, Sendable, Equatable {
            public var robotToApp: Int
            public var appToRobot: Int

            enum CodingKeys: String, CodingKey {
                case robotToApp = "robot_to_app", appToRobot = "app_to_robot"
            }
        }

        static func rounded(_ x: Double, _ places: Double) -> Double { (x * places).rounded() / places }

        init(group: String?, _ a: UsageTally.Accumulator) {
            self.group = group
            sessions = a.sessions
            seconds = Self.rounded(a.seconds, 1000)
            minutes = Self.rounded(a.seconds / 60, 1000)
            bytes = Bytes(robotToApp: Int(a.robotToApp.rounded()), appToRobot: Int(a.appToRobot.rounded()))
            var byGrade: [String: Double] = [:]
            var share: [String: Double] = [:]
            for grade in Set(UsageTally.grades).union(a.secondsByGrade.keys) {
                let s = a.secondsByGrade[grade] ?? 0
                byGrade[grade] = Self.rounded(s / 60, 1000)
                share[grade] = a.seconds > 0 ? Self.rounded(s / a.seconds, 10_000) : 0
            }
            minutesByGrade = byGrade
            gradeShare = share
        }

        enum CodingKeys: String, CodingKey {
            case group, sessions, seconds, minutes, bytes, minutesByGrade = "minutes_by_grade", gradeShare = "grade_share"
        }
    }

    enum CodingKeys: String, CodingKey {
        case from, to, groupBy = "group_by", rows, total, records
    }

    /// The CSV form (RFC 4180, header first): one line per row, then the total (`kind` `total`).
    public var csv: String {
        var lines = [
            "kind,group,sessions,seconds,minutes,bytes_robot_to_app,bytes_app_to_robot,"
                + UsageTally.grades.map { "minutes_\($0)" }.joined(separator: ",") + ","
                + UsageTally.grades.map { "share_\($0)" }.joined(separator: ",")
        ]
        for (kind, row) in rows.map({ ("group", $0) }) + [("total", total)] {
            let fields =
                [
                    kind, Self.csvField(row.group ?? ""), "\(row.sessions)", "\(row.seconds)", "\(row.minutes)", "\(row.bytes.robotToApp)",
                    "\(row.bytes.appToRobot)",
                ] + UsageTally.grades.map { "\(row.minutesByGrade[$0] ?? 0)" }
                + UsageTally.grades.map { "\(row.gradeShare[$0] ?? 0)" }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Device ids hold no comma or quote; quoted anyway if one ever does.
    static func csvField(_ s: String) -> String {
        s.contains { $0 == "," || $0 == "\"" || $0 == "\n" } ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
