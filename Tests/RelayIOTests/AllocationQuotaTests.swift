import RelayIO
import TURN
import Testing

/// `AllocationQuota` (Sources/RelayIO/RelayPortPool.swift): allocations per user (486) and in
/// total (508) across workers; 0 means unlimited.
@Suite("Allocation quota")
struct AllocationQuotaTests {
    static func granted(_ r: QuotaResult) -> Bool { if case .granted = r { true } else { false } }

    @Test func perUserThenTotal() {
        let quota = AllocationQuota(maxPerUser: 2, maxTotal: 3)
        #expect(Self.granted(quota.acquire(user: "alice")) && Self.granted(quota.acquire(user: "alice")))
        guard case .userQuotaReached = quota.acquire(user: "alice") else {
            Issue.record("a third allocation for alice")
            return
        }
        #expect(Self.granted(quota.acquire(user: "bob")))
        guard case .totalQuotaReached = quota.acquire(user: "carol") else {
            Issue.record("a fourth allocation in total")
            return
        }
        #expect(quota.total == 3)
        quota.release(user: "alice")
        #expect(quota.total == 2 && Self.granted(quota.acquire(user: "carol")))
    }

    @Test func zeroMeansUnlimited() {
        let quota = AllocationQuota(maxPerUser: 0, maxTotal: 0)
        for _ in 0..<1000 { #expect(Self.granted(quota.acquire(user: "alice"))) }
        #expect(quota.total == 1000)
    }
}
