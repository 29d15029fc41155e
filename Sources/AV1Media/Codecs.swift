import CAV1Media
import COpus
import Foundation

/// A realtime VP8 encoder (libvpx) for I420 frames.
public final class VP8Encoder {
    let encoder: OpaquePointer
    public let width: Int
    public let height: Int
    private var out = [UInt8](repeating: 0, count: 512 * 1024)

    public init?(width: Int, height: Int, fps: Int, bitrateKbps: Int) {
        guard let e = av1_vp8_encoder_new(Int32(width), Int32(height), Int32(fps), Int32(bitrateKbps)) else { return nil }
        encoder = e
        self.width = width
        self.height = height
    }

    deinit { av1_vp8_encoder_free(encoder) }

    /// One compressed frame, or nil when the encoder dropped it.
    public func encode(_ i420: [UInt8], pts: Int64, forceKeyframe: Bool = false) -> (data: [UInt8], keyframe: Bool)? {
        var key: Int32 = 0
        let n = i420.withUnsafeBufferPointer { frame in
            out.withUnsafeMutableBufferPointer { o in
                av1_vp8_encode(encoder, frame.baseAddress, pts, forceKeyframe ? 1 : 0, o.baseAddress, o.count, &key)
            }
        }
        guard n > 0 else { return nil }
        return (Array(out.prefix(Int(n))), key != 0)
    }
}

/// A VP8 decoder; reports each picture's size and mean luma (enough to check a moving picture).
public final class VP8Decoder {
    let decoder: OpaquePointer

    public init?() {
        guard let d = av1_vp8_decoder_new() else { return nil }
        decoder = d
    }

    deinit { av1_vp8_decoder_free(decoder) }

    public struct Picture: Sendable {
        public var width: Int
        public var height: Int
        public var meanLuma: Double
    }

    public enum Failure: Error { case corrupt }

    public func decode(_ frame: [UInt8]) throws(Failure) -> Picture? {
        var w: Int32 = 0
        var h: Int32 = 0
        var luma = 0.0
        let rc = frame.withUnsafeBufferPointer { av1_vp8_decode(decoder, $0.baseAddress, $0.count, &w, &h, &luma) }
        if rc < 0 { throw .corrupt }
        return rc == 0 ? nil : Picture(width: Int(w), height: Int(h), meanLuma: luma)
    }
}

/// Opus at 48 kHz mono, 20 ms frames (960 samples).
public final class OpusCodec {
    public static let sampleRate = 48_000
    public static let frameSamples = 960
    let encoder: OpaquePointer
    let decoder: OpaquePointer
    private var packet = [UInt8](repeating: 0, count: 1500)
    private var pcm = [Int16](repeating: 0, count: OpusCodec.frameSamples * 6)

    public init?() {
        var error: Int32 = 0
        guard let e = opus_encoder_create(Int32(OpusCodec.sampleRate), 1, OPUS_APPLICATION_VOIP, &error), error == OPUS_OK else {
            return nil
        }
        guard let d = opus_decoder_create(Int32(OpusCodec.sampleRate), 1, &error), error == OPUS_OK else {
            opus_encoder_destroy(e)
            return nil
        }
        encoder = e
        decoder = d
    }

    deinit {
        opus_encoder_destroy(encoder)
        opus_decoder_destroy(decoder)
    }

    /// One 20 ms frame of samples → one Opus packet.
    public func encode(_ samples: [Int16]) -> [UInt8]? {
        guard samples.count == OpusCodec.frameSamples else { return nil }
        let n = samples.withUnsafeBufferPointer { s in
            packet.withUnsafeMutableBufferPointer { p -> Int32 in
                guard let input = s.baseAddress, let output = p.baseAddress else { return -1 }
                return opus_encode(encoder, input, Int32(OpusCodec.frameSamples), output, Int32(p.count))
            }
        }
        return n > 0 ? Array(packet.prefix(Int(n))) : nil
    }

    /// One Opus packet → samples; nil for a corrupt packet.
    public func decode(_ data: [UInt8]) -> [Int16]? {
        let n = data.withUnsafeBufferPointer { d in
            pcm.withUnsafeMutableBufferPointer { p -> Int32 in
                guard let output = p.baseAddress else { return -1 }
                return opus_decode(decoder, d.baseAddress, Int32(d.count), output, Int32(p.count), 0)
            }
        }
        return n > 0 ? Array(pcm.prefix(Int(n))) : nil
    }
}

/// Synthetic sources: a tone and a moving picture, so that what arrives can be recognised.
public enum Synthetic {
    /// 20 ms of a sine tone, continuing from `frame` (48 kHz mono).
    public static func tone(frame: Int, hertz: Double = 440, amplitude: Double = 8000) -> [Int16] {
        (0..<OpusCodec.frameSamples).map { i in
            let t = Double(frame * OpusCodec.frameSamples + i) / Double(OpusCodec.sampleRate)
            return Int16(amplitude * sin(2 * Double.pi * hertz * t))
        }
    }

    /// An I420 frame: a gradient whose brightness cycles with `frame` and a bright square that
    /// moves with it, so that a decoded picture tells which frame it is.
    public static func picture(frame: Int, width: Int, height: Int) -> [UInt8] {
        let cw = (width + 1) / 2
        let ch = (height + 1) / 2
        var out = [UInt8](repeating: 128, count: width * height + 2 * cw * ch)
        let square = max(8, width / 8)
        let sx = (frame * 7) % max(1, width - square)
        let sy = (frame * 3) % max(1, height - square)
        let base = 40 + (frame * 9) % 120
        for y in 0..<height {
            for x in 0..<width {
                let inside = x >= sx && x < sx + square && y >= sy && y < sy + square
                out[y * width + x] = inside ? 235 : UInt8(truncatingIfNeeded: base + (x + y) % 64)
            }
        }
        return out
    }
}
