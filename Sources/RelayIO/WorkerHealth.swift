import STUN
import TURN

/// Why a TCP/TLS client connection ended (or never began).
public enum StreamCloseReason: Int, Sendable, CaseIterable {
    /// The client closed it.
    case client
    /// A read or write error (reset, broken pipe).
    case error
    /// The TLS handshake or a TLS record failed.
    case tlsFailed
    /// A frame that is neither STUN nor ChannelData.
    case framingError
    /// The client did not read and its pending bytes passed `stream-buffer`.
    case overrun
    /// The handshake or idle timeout.
    case timeout
    /// The relay stopped.
    case shutdown
    /// Refused at accept: the per-address or total connection limit, or no TLS context.
    case refused
}

/// A resource the process ran out of, as a worker meets it: told once when it starts to bite and
/// once when it no longer does, for the log (`Worker.start(onPressure:)`).
public enum ResourcePressure: Sendable, Equatable {
    /// accept(2) failed for want of file descriptors or memory (its errno): TCP/TLS clients wait
    /// in the kernel's backlog while the listener rests, tried again every second.
    case acceptsPaused(errno: Int32)
    /// A second passed without an accept failing so.
    case acceptsResumed
}

/// The worker's own counters (data-plane health, streams): plain integers kept on the worker's
/// thread, a few per round and none per packet, read with its other counters. Fixed size, no heap.
public struct WorkerHealth: Sendable {
    /// Upper bounds of the `recvmmsg` and `sendmmsg` batch-size buckets (datagrams per call).
    public static let receiveBounds = [1, 2, 4, 8, 16, 32]
    public static let sendBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// Time the loop spent handling what `epoll_wait` returned, not waiting (µs).
    public var busyMicros = 0
    /// Calls that returned datagrams, by batch-size bucket, and the datagrams they returned.
    public var receiveBatches = InlineArray<6, Int>(repeating: 0)
    public var received = 0
    /// `sendmmsg` runs by batch-size bucket, the datagrams handed to them, and those the kernel
    /// refused (full socket buffer, unreachable destination).
    public var sendBatches = InlineArray<11, Int>(repeating: 0)
    public var sent = 0
    public var sendFailures = 0
    /// Datagrams the engine could not queue because the outbox was full.
    public var outboxOverflows = 0
    /// TLS handshakes completed, and TLS connections that ended before theirs did (refused by
    /// OpenSSL, cut by the handshake timeout, closed by the client midway).
    public var tlsHandshakes = 0
    public var tlsFailures = 0
    /// Times a stream listener rested (until the next tick) because accept(2) found no file
    /// descriptor or memory left (EMFILE, ENFILE, ENOBUFS, ENOMEM).
    public var acceptPauses = 0
    /// Stream connections closed, by `StreamCloseReason`.
    public var streamCloses = InlineArray<8, Int>(repeating: 0)

    public init() {}

    public subscript(closed reason: StreamCloseReason) -> Int {
        get { streamCloses[reason.rawValue] }
        set { streamCloses[reason.rawValue] = newValue }
    }

    /// The bucket of a batch of `n` (1…): the first bound at or above it.
    @inline(__always)
    static func bucket(_ n: Int, of count: Int) -> Int {
        min(count - 1, n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount)
    }

    @inline(__always)
    mutating func countReceive(_ n: Int) {
        receiveBatches[Self.bucket(n, of: receiveBatches.count)] += 1
        received += n
    }

    @inline(__always)
    mutating func countSend(_ n: Int, refused: Int) {
        sendBatches[Self.bucket(n, of: sendBatches.count)] += 1
        sent += n
        sendFailures += refused
    }

    public static func + (a: WorkerHealth, b: WorkerHealth) -> WorkerHealth {
        var s = a
        s.busyMicros += b.busyMicros
        s.receiveBatches += b.receiveBatches
        s.received += b.received
        s.sendBatches += b.sendBatches
        s.sent += b.sent
        s.sendFailures += b.sendFailures
        s.outboxOverflows += b.outboxOverflows
        s.tlsHandshakes += b.tlsHandshakes
        s.tlsFailures += b.tlsFailures
        s.acceptPauses += b.acceptPauses
        s.streamCloses += b.streamCloses
        return s
    }
}
