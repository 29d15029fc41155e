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

/// The address field of a slot.
struct sockaddr_storage *av1_datagram_addr(av1_datagram *d);

/// Receives up to `count` datagrams with one recvmmsg(2). Returns the number received,
/// 0 when the socket has nothing (EAGAIN), or -errno.
int av1_recv_batch(int fd, av1_datagram *slots, int count);

/// Sends `count` datagrams with sendmmsg(2), retrying on partial sends and EINTR.
/// Returns the number handed to the kernel or -errno for the first failure
/// (a datagram the kernel refused is skipped, not retried, and counted in `*refused`).
int av1_send_batch(int fd, av1_datagram *slots, int count, int *refused);

/// A nonblocking, close-on-exec UDP socket bound to `addr`; `reuse_port` sets SO_REUSEPORT.
/// Returns the fd or -errno.
int av1_udp_socket(const struct sockaddr *addr, socklen_t len, int reuse_port);

/// A nonblocking, close-on-exec TCP socket bound to `addr` and listening. fd or -errno.
int av1_tcp_listener(const struct sockaddr *addr, socklen_t len, int reuse_port, int backlog);

/// Accepts one connection, nonblocking and close-on-exec. fd, 0-errno (EAGAIN when none).
int av1_accept(int fd, struct sockaddr_storage *addr, socklen_t *len);
/// Sets TCP_NODELAY.
void av1_tcp_nodelay(int fd);

/// epoll, with a plain (unpacked) event record for Swift.
typedef struct av1_event {
    uint64_t data;
    uint32_t events;
} av1_event;
enum { AV1_IN = 0x001, AV1_OUT = 0x004, AV1_ERR = 0x008, AV1_HUP = 0x010, AV1_RDHUP = 0x2000 };
int av1_epoll_create(void);
/// op: 1 add, 2 delete, 3 modify (EPOLL_CTL_*). 0 or -errno.
int av1_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits up to `timeout_ms` (-1 forever); returns events filled or -errno (EINTR is 0).
int av1_epoll_wait(int epfd, av1_event *out, int max, int timeout_ms);
/// An eventfd for waking a worker; signal adds 1, drain empties it.
int av1_eventfd(void);
void av1_eventfd_signal(int fd);
void av1_eventfd_drain(int fd);

/// The locally bound address of `fd` (0 or -errno).
int av1_local_address(int fd, struct sockaddr_storage *out, socklen_t *len);

/// Disables core dumps for this process (media must never reach disk). 0 or -errno.
int av1_disable_core_dumps(void);

/// Marks a page-aligned buffer as excluded from core dumps (MADV_DONTDUMP). 0 or -errno.
int av1_exclude_from_dump(void *ptr, size_t len);
/// Monotonic milliseconds, and microseconds.
int64_t av1_monotonic_ms(void);
int64_t av1_monotonic_us(void);

/// TLS through memory BIOs (OpenSSL): the caller owns the socket and moves bytes in and out,
/// so the handshake and records stay sans-I/O.
typedef struct ssl_ctx_st av1_tls_ctx;
typedef struct ssl_st av1_tls;

/// A server context for TLS 1.2 and 1.3 from PEM files. NULL on failure, with a reason in `err`.
av1_tls_ctx *av1_tls_server_ctx(const char *cert_path, const char *key_path, char *err, size_t err_len);
void av1_tls_ctx_free(av1_tls_ctx *ctx);
/// A client context for TLS 1.2/1.3. verify 0: no certificate check; 1: the peer's chain must verify against
/// ca_path (PEM bundle) or, when ca_path is NULL, the system's trust store.
av1_tls_ctx *av1_tls_client_ctx(const char *ca_path, int verify, char *err, size_t err_len);
/// A client-side TLS session with memory BIOs. server_name (may be NULL): sent as SNI when it is a DNS name, and with a
/// verifying context checked against the certificate (a DNS name or an IP address literal).
av1_tls *av1_tls_new_client(av1_tls_ctx *ctx, const char *server_name);
/// Why the last handshake's certificate check failed ("" when it did not).
void av1_tls_verify_error(av1_tls *tls, char *out, size_t out_len);
/// A server-side TLS session with memory BIOs.
av1_tls *av1_tls_new(av1_tls_ctx *ctx);
void av1_tls_free(av1_tls *tls);
/// Hands received ciphertext to the session. Returns bytes taken or -1.
int av1_tls_feed(av1_tls *tls, const void *data, size_t len);
/// Advances the handshake: 1 when complete, 0 when it needs more bytes, -1 when it failed.
int av1_tls_handshake(av1_tls *tls);
/// Reads plaintext: bytes read, 0 when none is ready, -2 when the peer closed the session
/// (close_notify), -1 when it failed.
int av1_tls_read(av1_tls *tls, void *buf, size_t len);
/// Encrypts plaintext into the session's output. Returns bytes taken or -1.
int av1_tls_write(av1_tls *tls, const void *data, size_t len);
/// Ciphertext waiting to go to the network, and taking it out.
size_t av1_tls_pending(av1_tls *tls);
int av1_tls_take(av1_tls *tls, void *buf, size_t len);
/// The negotiated protocol version ("TLSv1.3").
const char *av1_tls_version(av1_tls *tls);

#endif
