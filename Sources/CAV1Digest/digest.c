#include "CAV1Digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

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

int av1_aes256_block(const uint8_t key[32], const uint8_t in[16], uint8_t out[16], int encrypt) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return -1;
    int n = 0, ok = EVP_CipherInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL, encrypt ? 1 : 0) == 1;
    if (ok) ok = EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
    if (ok) ok = EVP_CipherUpdate(ctx, out, &n, in, 16) == 1 && n == 16;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}
