/// The endpoint's report: counters are kept in `report` as the call goes; what is summarised
/// from the whole call (ICE state, RTT percentiles, per-stream reception) is added at the end.
extension Endpoint {
    func finishReport() {
        report.iceConnected = iceConnected
        report.rttMillis = Percentiles(rtts)
        report.audioReceived = StreamReport(audioIn)
        report.videoReceived = videoIn.packets > 0 ? StreamReport(videoIn) : nil
    }
}
