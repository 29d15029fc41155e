#define _GNU_SOURCE
#include "CAV1Shim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

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

int av1_send_batch(int fd, av1_datagram *slots, int count) {
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

static int hmac(const EVP_MD *md, const void *key, size_t key_len, const void *data, size_t len, uint8_t *out) {
    unsigned int out_len = 0;
    if (!HMAC(md, key, (int)key_len, data, len, out, &out_len)) return -1;
    return (int)out_len;
}

int av1_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[20]) {
    return hmac(EVP_sha1(), key, key_len, data, len, out);
}

int av1_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]) {
    return hmac(EVP_sha256(), key, key_len, data, len, out);
}

static int digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out) {
    unsigned int out_len = 0;
    if (!EVP_Digest(data, len, out, &out_len, md, NULL)) return -1;
    return (int)out_len;
}

int av1_md5(const void *data, size_t len, uint8_t out[16]) { return digest(EVP_md5(), data, len, out); }
int av1_sha256(const void *data, size_t len, uint8_t out[32]) { return digest(EVP_sha256(), data, len, out); }

int av1_random(void *out, size_t len) { return RAND_bytes(out, (int)len) == 1 ? 0 : -1; }


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
