/// Robot link telemetry (DESIGN §5): a comprehension-optional STUN attribute the robot adds to its
/// Refresh requests. Codepoint and layout are documented in the README.
public struct LinkTelemetry: Equatable, Sendable, Codable {
    /// 0xC0A1: comprehension-optional, outside every range IANA's STUN registry assigns.
    public static let attribute = STUNAttributeType(0xC0A1)
    public static let version: UInt8 = 1

    public var wifiRSSI: Int8?
    /// 1: 2.4 GHz, 2: 5 GHz, 3: 6 GHz.
    public var wifiBand: UInt8?
    /// 1: LTE, 2: 5G NR, 3: UMTS, 4: GSM.
    public var radioType: UInt8?
    public var rsrp: Int16?
    public var rsrq: Int8?
    public var sinr: Int8?
    /// MCC and MNC, digits only ("20801").
    public var operatorCode: String?

    public init(
        wifiRSSI: Int8? = nil, wifiBand: UInt8? = nil, radioType: UInt8? = nil, rsrp: Int16? = nil, rsrq: Int8? = nil,
        sinr: Int8? = nil, operatorCode: String? = nil
    ) {
        self.wifiRSSI = wifiRSSI
        self.wifiBand = wifiBand
        self.radioType = radioType
        self.rsrp = rsrp
        self.rsrq = rsrq
        self.sinr = sinr
        self.operatorCode = operatorCode
    }

    /// 20 bytes: version, flags (bit 0 Wi-Fi, bit 1 cellular), RSSI, band, radio type, RSRQ,
    /// RSRP (16-bit), SINR, 3 reserved, operator code (6 ASCII bytes, NUL-padded), 2 reserved.
    public var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        out[0] = LinkTelemetry.version
        let wifi = wifiRSSI != nil
        let cellular = radioType != nil
        out[1] = (wifi ? 1 : 0) | (cellular ? 2 : 0)
        out[2] = UInt8(bitPattern: wifiRSSI ?? 0)
        out[3] = wifiBand ?? 0
        out[4] = radioType ?? 0
        out[5] = UInt8(bitPattern: rsrq ?? 0)
        let p = UInt16(bitPattern: rsrp ?? 0)
        out[6] = UInt8(p >> 8)
        out[7] = UInt8(p & 0xFF)
        out[8] = UInt8(bitPattern: sinr ?? 0)
        for (i, c) in (operatorCode ?? "").utf8.prefix(6).enumerated() { out[12 + i] = c }
        return out
    }

    public init?(encoded v: some Collection<UInt8>) {
        let b = Array(v)
        guard b.count >= 20, b[0] == LinkTelemetry.version else { return nil }
        if b[1] & 1 != 0 {
            wifiRSSI = Int8(bitPattern: b[2])
            wifiBand = b[3]
        }
        if b[1] & 2 != 0 {
            radioType = b[4]
            rsrq = Int8(bitPattern: b[5])
            rsrp = Int16(bitPattern: UInt16(b[6]) << 8 | UInt16(b[7]))
            sinr = Int8(bitPattern: b[8])
            // MCC then MNC: five or six ASCII digits, or nothing. Anything else is not an operator
            // code and goes no further (found by FuzzAnalyzer: bytes that are not UTF-8 came back
            // as replacement characters, which encode to other bytes).
            let code = b[12..<18].prefix { $0 != 0 }
            operatorCode =
                (5...6).contains(code.count) && code.allSatisfy({ (0x30...0x39).contains($0) })
                ? String(decoding: code, as: UTF8.self) : nil
        }
    }
}
