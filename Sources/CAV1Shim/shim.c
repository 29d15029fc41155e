#define _GNU_SOURCE
#include "CAV1Shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#define AV1_MAX_BATCH 64

int av1_recv_batch(int fd, av1_datagram *slots, int count) {
    struct mmsghdr msgs[AV1_MAX_BATCH];
    struct iovec iov[AV1_MAX_BATCH];
    if (count > AV1_MAX_BATCH) count = AV1_MAX_BATCH;
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = slots[i].buffer;
        iov[i].iov_len = slots[i].capacity;
        memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &slots[i].addr;
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        msgs[i].msg_len = 0;
    }
    int n;
    do {
        n = recvmmsg(fd, msgs, (unsigned)count, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
    for (int i = 0; i < n; i++) {
        slots[i].length = msgs[i].msg_len;
        slots[i].truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
        slots[i].addr_len = msgs[i].msg_hdr.msg_namelen;
    }
    return n;
}

int av1_send_batch(int fd, av1_datagram *slots, int count, int *refused) {
    struct mmsghdr msgs[AV1_MAX_BATCH];
    struct iovec iov[AV1_MAX_BATCH];
    int sent = 0;
    int first_error = 0;
    while (sent < count) {
        int chunk = count - sent;
        if (chunk > AV1_MAX_BATCH) chunk = AV1_MAX_BATCH;
        for (int i = 0; i < chunk; i++) {
            av1_datagram *d = &slots[sent + i];
            iov[i].iov_base = d->buffer;
            iov[i].iov_len = d->length;
            memset(&msgs[i].msg_hdr, 0, sizeof(struct msghdr));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &d->addr;
            msgs[i].msg_hdr.msg_namelen = d->addr_len;
        }
        int n = sendmmsg(fd, msgs, (unsigned)chunk, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (!first_error) first_error = -errno;
            if (refused) *refused += 1;
            sent += 1;  // skip the datagram the kernel refused (full buffer, unreachable)
            continue;
        }
        sent += n;
    }
    return first_error ? first_error : sent;
}

int av1_udp_socket(const struct sockaddr *addr, socklen_t len, int reuse_port) {
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno; close(fd); return -e;
    }
    if (addr->sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (bind(fd, addr, len) < 0) {
        int e = errno; close(fd); return -e;
    }
    return fd;
}

int av1_tcp_listener(const struct sockaddr *addr, socklen_t len, int reuse_port, int backlog) {
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno; close(fd); return -e;
    }
    if (addr->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, addr, len) < 0 || listen(fd, backlog) < 0) {
        int e = errno; close(fd); return -e;
    }
    return fd;
}

int av1_accept(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof(struct sockaddr_storage);
    int c;
    do {
        c = accept4(fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (c < 0 && errno == EINTR);
    return c < 0 ? -errno : c;
}

void av1_tcp_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int av1_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int av1_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int av1_epoll_wait(int epfd, av1_event *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        out[i].data = evs[i].data.u64;
        out[i].events = evs[i].events;
    }
    return n;
}

int av1_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void av1_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t rc = write(fd, &one, sizeof one);
    (void)rc;
}

void av1_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t rc = read(fd, &value, sizeof value);
    (void)rc;
}

int av1_local_address(int fd, struct sockaddr_storage *out, socklen_t *len) {
    *len = sizeof(struct sockaddr_storage);
    return getsockname(fd, (struct sockaddr *)out, len) < 0 ? -errno : 0;
}

int av1_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0) return -errno;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return -errno;
    return 0;
}

static const char *reason(void) {
    const char *r = ERR_reason_error_string(ERR_get_error());
    return r ? r : "not a PEM file of the right kind";
}

#include <sys/mman.h>
#include <time.h>

int av1_exclude_from_dump(void *ptr, size_t len) {
    return madvise(ptr, len, MADV_DONTDUMP) < 0 ? -errno : 0;
}

int64_t av1_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>

av1_tls_ctx *av1_tls_server_ctx(const char *cert_path, const char *key_path, char *err, size_t err_len) {
    const char *paths[2] = {cert_path, key_path};
    for (int i = 0; i < 2; i++) {
        if (access(paths[i], R_OK) != 0) {
            snprintf(err, err_len, "cannot read %s: %s", paths[i], strerror(errno));
            return NULL;
        }
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { snprintf(err, err_len, "cannot create a TLS context"); return NULL; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        snprintf(err, err_len, "cannot load certificate %s: %s", cert_path, reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, err_len, "cannot load key %s: %s", key_path, reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_len, "key %s does not match certificate %s", key_path, cert_path);
        SSL_CTX_free(ctx);
        return NULL;
    }
    ERR_clear_error();
    return ctx;
}

void av1_tls_ctx_free(av1_tls_ctx *ctx) { SSL_CTX_free(ctx); }

av1_tls_ctx *av1_tls_client_ctx(const char *ca_path, int verify, char *err, size_t err_len) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { snprintf(err, err_len, "cannot create a TLS context"); return NULL; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    if (ca_path ? SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        if (ca_path) snprintf(err, err_len, "cannot load CA file %s (PEM certificates expected)", ca_path);
        else snprintf(err, err_len, "cannot load the system's trust store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

av1_tls *av1_tls_new_client(av1_tls_ctx *ctx, const char *server_name) {
    SSL *ssl = av1_tls_new(ctx);
    if (!ssl) return NULL;
    SSL_set_connect_state(ssl);
    if (server_name) {
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1;
        // SNI carries host names only (RFC 6066 §3).
        if (!is_ip) SSL_set_tlsext_host_name(ssl, server_name);
        if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
            X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name) : X509_VERIFY_PARAM_set1_host(param, server_name, 0);
            if (ok != 1) { SSL_free(ssl); return NULL; }
        }
    }
    return ssl;
}

void av1_tls_verify_error(av1_tls *tls, char *out, size_t out_len) {
    long result = SSL_get_verify_result(tls);
    if (result == X509_V_OK) { if (out_len) out[0] = 0; return; }
    snprintf(out, out_len, "%s", X509_verify_cert_error_string(result));
}

av1_tls *av1_tls_new(av1_tls_ctx *ctx) {
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());
    if (!in || !out) { BIO_free(in); BIO_free(out); SSL_free(ssl); return NULL; }
    BIO_set_mem_eof_return(in, -1);  // "no data yet", not end of file
    SSL_set_bio(ssl, in, out);
    SSL_set_accept_state(ssl);
    return ssl;
}

void av1_tls_free(av1_tls *tls) { SSL_free(tls); }

int av1_tls_feed(av1_tls *tls, const void *data, size_t len) {
    return BIO_write(SSL_get_rbio(tls), data, (int)len);
}

static int wants_more(SSL *ssl, int rc) {
    int e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

int av1_tls_handshake(av1_tls *tls) {
    int rc = SSL_do_handshake(tls);
    if (rc == 1) return 1;
    if (wants_more(tls, rc)) return 0;
    ERR_clear_error();
    return -1;
}

int av1_tls_read(av1_tls *tls, void *buf, size_t len) {
    int rc = SSL_read(tls, buf, (int)len);
    if (rc > 0) return rc;
    if (wants_more(tls, rc)) return 0;
    int closed = SSL_get_error(tls, rc) == SSL_ERROR_ZERO_RETURN;
    ERR_clear_error();
    return closed ? -2 : -1;
}

int av1_tls_write(av1_tls *tls, const void *data, size_t len) {
    int rc = SSL_write(tls, data, (int)len);
    if (rc > 0) return rc;
    ERR_clear_error();
    return -1;
}

size_t av1_tls_pending(av1_tls *tls) { return BIO_ctrl_pending(SSL_get_wbio(tls)); }

int av1_tls_take(av1_tls *tls, void *buf, size_t len) { return BIO_read(SSL_get_wbio(tls), buf, (int)len); }

const char *av1_tls_version(av1_tls *tls) { return SSL_get_version(tls); }

int64_t av1_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct sockaddr_storage *av1_datagram_addr(av1_datagram *d) { return &d->addr; }
