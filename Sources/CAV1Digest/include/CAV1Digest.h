#ifndef AV1_DIGEST_H
#define AV1_DIGEST_H

// Digests, MACs and random bytes (OpenSSL's libcrypto) for the STUN codec: MESSAGE-INTEGRITY,
// FINGERPRINT's neighbours, long-term keys, nonces. Nothing here touches a socket.

#include <stddef.h>
#include <stdint.h>

/// Each returns the output length, or -1 on failure.
int av1_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[20]);
int av1_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);
int av1_md5(const void *data, size_t len, uint8_t out[16]);
int av1_sha256(const void *data, size_t len, uint8_t out[32]);
/// Cryptographically secure random bytes. 0 on success.
int av1_random(void *out, size_t len);
/// One AES-256 block (16 bytes), encrypted or decrypted (`encrypt` 0): the relay's own small
/// tokens (RFC 8016 mobility tickets), which are unique per issue and MAC'd. 0 on success.
int av1_aes256_block(const uint8_t key[32], const uint8_t in[16], uint8_t out[16], int encrypt);

#endif
