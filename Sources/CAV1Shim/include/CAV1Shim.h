#ifndef AV1_SHIM_H
#define AV1_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/// One datagram slot for batched receive/send: buffer, length, and the peer's address.
typedef struct av1_datagram {
    uint8_t *buffer;
    uint32_t capacity;  // bytes available in buffer (receive)
    uint32_t length;    // bytes received / to send
    int32_t truncated;  // receive: the datagram did not fit
    socklen_t addr_len;
    struct sockaddr_storage addr;
} av1_datagram;

/// Receives up to `count` datagrams with one recvmmsg(2). Returns the number received,
/// 0 when the socket has nothing (EAGAIN), or -errno.
int av1_recv_batch(int fd, av1_datagram *slots, int count);

/// Sends `count` datagrams with sendmmsg(2), retrying on partial sends and EINTR.
/// Returns the number handed to the kernel or -errno for the first failure
/// (a datagram the kernel refused is skipped, not retried).
int av1_send_batch(int fd, av1_datagram *slots, int count);

/// A nonblocking, close-on-exec UDP socket bound to `addr`; `reuse_port` sets SO_REUSEPORT.
/// Returns the fd or -errno.
int av1_udp_socket(const struct sockaddr *addr, socklen_t len, int reuse_port);

/// The locally bound address of `fd` (0 or -errno).
int av1_local_address(int fd, struct sockaddr_storage *out, socklen_t *len);

/// Disables core dumps for this process (media must never reach disk). 0 or -errno.
int av1_disable_core_dumps(void);

/// Digests and MACs (OpenSSL). Each returns the output length, or -1 on failure.
int av1_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[20]);
int av1_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);
int av1_md5(const void *data, size_t len, uint8_t out[16]);
int av1_sha256(const void *data, size_t len, uint8_t out[32]);
/// Cryptographically secure random bytes. 0 on success.
int av1_random(void *out, size_t len);



/// Marks a page-aligned buffer as excluded from core dumps (MADV_DONTDUMP). 0 or -errno.
int av1_exclude_from_dump(void *ptr, size_t len);
/// Monotonic milliseconds.
int64_t av1_monotonic_ms(void);
#endif
