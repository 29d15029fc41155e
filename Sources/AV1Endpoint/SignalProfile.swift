import STUN

/// How the robot's link looks over time: the telemetry it reports in its Refresh requests.
public enum SignalProfile: String, Sendable, CaseIterable {
    /// Classroom Wi-Fi on 5 GHz, RSSI wandering between -62 and -48 dBm.
    case classroomWiFi = "classroom-wifi"
    /// Weak 2.4 GHz Wi-Fi, RSSI between -82 and -70 dBm.
    case weakWiFi = "weak-wifi"
    /// LTE only: RSRP -105 to -85 dBm, RSRQ -12 to -8 dB, SINR 5 to 15 dB, operator 20801.
    case lte
    /// Wi-Fi and 5G NR together.
    case mixed

    /// The telemetry at time `t` (seconds): a slow triangle wave between the profile's bounds.
    public func sample(at t: Double) -> LinkTelemetry {
        let phase = (t / 20).truncatingRemainder(dividingBy: 1)
        let w = phase < 0.5 ? phase * 2 : 2 - phase * 2  // 0…1…0 every 20 s
        func between(_ a: Double, _ b: Double) -> Double { (a + (b - a) * w).rounded() }
        switch self {
        case .classroomWiFi:
            return LinkTelemetry(wifiRSSI: Int8(between(-62, -48)), wifiBand: 2)
        case .weakWiFi:
            return LinkTelemetry(wifiRSSI: Int8(between(-82, -70)), wifiBand: 1)
        case .lte:
            return LinkTelemetry(
                radioType: 1, rsrp: Int16(between(-105, -85)), rsrq: Int8(between(-12, -8)), sinr: Int8(between(5, 15)),
                operatorCode: "20801")
        case .mixed:
            return LinkTelemetry(
                wifiRSSI: Int8(between(-70, -55)), wifiBand: 2, radioType: 2, rsrp: Int16(between(-100, -80)),
                rsrq: Int8(between(-11, -7)), sinr: Int8(between(8, 20)), operatorCode: "310260")
        }
    }
}
