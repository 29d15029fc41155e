#include "CAV1Media.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <srtp2/srtp.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

// MARK: VP8

struct av1_vp8_encoder {
    vpx_codec_ctx_t codec;
    vpx_image_t image;
    int width, height;
};

struct av1_vp8_decoder {
    vpx_codec_ctx_t codec;
};

av1_vp8_encoder *av1_vp8_encoder_new(int width, int height, int fps, int bitrate_kbps) {
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) return NULL;
    cfg.g_w = (unsigned)width;
    cfg.g_h = (unsigned)height;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = fps;
    cfg.rc_target_bitrate = (unsigned)bitrate_kbps;
    cfg.g_lag_in_frames = 0;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.rc_end_usage = VPX_CBR;
    cfg.kf_max_dist = (unsigned)(fps * 3);
    cfg.g_threads = 1;
    av1_vp8_encoder *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    if (vpx_codec_enc_init(&e->codec, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) { free(e); return NULL; }
    vpx_codec_control(&e->codec, VP8E_SET_CPUUSED, 16);  // fastest realtime
    if (!vpx_img_alloc(&e->image, VPX_IMG_FMT_I420, (unsigned)width, (unsigned)height, 1)) {
        vpx_codec_destroy(&e->codec);
        free(e);
        return NULL;
    }
    e->width = width;
    e->height = height;
    return e;
}

void av1_vp8_encoder_free(av1_vp8_encoder *e) {
    if (!e) return;
    vpx_img_free(&e->image);
    vpx_codec_destroy(&e->codec);
    free(e);
}

static void copy_plane(uint8_t *dst, int stride, const uint8_t *src, int w, int h) {
    for (int y = 0; y < h; y++) memcpy(dst + (size_t)y * stride, src + (size_t)y * w, (size_t)w);
}

int av1_vp8_encode(av1_vp8_encoder *e, const uint8_t *i420, int64_t pts, int force_keyframe, uint8_t *out, size_t cap, int *keyframe) {
    int w = e->width, h = e->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
    copy_plane(e->image.planes[VPX_PLANE_Y], e->image.stride[VPX_PLANE_Y], i420, w, h);
    copy_plane(e->image.planes[VPX_PLANE_U], e->image.stride[VPX_PLANE_U], i420 + (size_t)w * h, cw, ch);
    copy_plane(e->image.planes[VPX_PLANE_V], e->image.stride[VPX_PLANE_V], i420 + (size_t)w * h + (size_t)cw * ch, cw, ch);
    if (vpx_codec_encode(&e->codec, &e->image, pts, 1, force_keyframe ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME) != VPX_CODEC_OK)
        return -1;
    size_t written = 0;
    *keyframe = 0;
    vpx_codec_iter_t iter = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    while ((pkt = vpx_codec_get_cx_data(&e->codec, &iter)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
        if (written + pkt->data.frame.sz > cap) return -1;
        memcpy(out + written, pkt->data.frame.buf, pkt->data.frame.sz);
        written += pkt->data.frame.sz;
        if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *keyframe = 1;
    }
    return (int)written;
}

av1_vp8_decoder *av1_vp8_decoder_new(void) {
    av1_vp8_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    vpx_codec_dec_cfg_t cfg = {.threads = 1, .w = 0, .h = 0};
    if (vpx_codec_dec_init(&d->codec, vpx_codec_vp8_dx(), &cfg, 0) != VPX_CODEC_OK) { free(d); return NULL; }
    return d;
}

void av1_vp8_decoder_free(av1_vp8_decoder *d) {
    if (!d) return;
    vpx_codec_destroy(&d->codec);
    free(d);
}

int av1_vp8_decode(av1_vp8_decoder *d, const uint8_t *data, size_t len, int *width, int *height, double *mean_luma) {
    if (vpx_codec_decode(&d->codec, data, (unsigned)len, NULL, 0) != VPX_CODEC_OK) return -1;
    vpx_codec_iter_t iter = NULL;
    vpx_image_t *img = vpx_codec_get_frame(&d->codec, &iter);
    if (!img) return 0;
    *width = (int)img->d_w;
    *height = (int)img->d_h;
    uint64_t sum = 0;
    for (unsigned y = 0; y < img->d_h; y++) {
        const uint8_t *row = img->planes[VPX_PLANE_Y] + (size_t)y * img->stride[VPX_PLANE_Y];
        for (unsigned x = 0; x < img->d_w; x++) sum += row[x];
    }
    *mean_luma = img->d_w && img->d_h ? (double)sum / ((double)img->d_w * img->d_h) : 0;
    while (vpx_codec_get_frame(&d->codec, &iter)) {}
    return 1;
}

// MARK: DTLS

static int accept_any(int ok, X509_STORE_CTX *store) {
    (void)ok;
    (void)store;
    return 1;  // self-signed by design: the fingerprint exchanged out of band is what is checked
}

static int fingerprint(X509 *cert, char *out, size_t cap) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!cert || !X509_digest(cert, EVP_sha256(), md, &n) || cap < n * 3) return -1;
    for (unsigned i = 0; i < n; i++) snprintf(out + i * 3, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
    return 0;
}

av1_dtls_ctx *av1_dtls_ctx_new(int server, const char *profiles) {
    SSL_CTX *ctx = SSL_CTX_new(server ? DTLS_server_method() : DTLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    if (!key || !cert) goto fail;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)(rand() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(cert), -86400);
    X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"av1sim", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (!X509_sign(cert, key, EVP_sha256())) goto fail;
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) goto fail;
    X509_free(cert);
    EVP_PKEY_free(key);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    if (SSL_CTX_set_tlsext_use_srtp(ctx, profiles) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU);
    return ctx;
fail:
    X509_free(cert);
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx);
    return NULL;
}

void av1_dtls_ctx_free(av1_dtls_ctx *ctx) { SSL_CTX_free(ctx); }

int av1_dtls_ctx_fingerprint(av1_dtls_ctx *ctx, char *out, size_t cap) { return fingerprint(SSL_CTX_get0_certificate(ctx), out, cap); }

av1_dtls *av1_dtls_new(av1_dtls_ctx *ctx, int server, int mtu) {
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());
    if (!in || !out) { BIO_free(in); BIO_free(out); SSL_free(ssl); return NULL; }
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl, in, out);
    SSL_set_mtu(ssl, mtu);
    DTLS_set_link_mtu(ssl, mtu);
    if (server) SSL_set_accept_state(ssl); else SSL_set_connect_state(ssl);
    return ssl;
}

void av1_dtls_free(av1_dtls *d) { SSL_free(d); }

int av1_dtls_feed(av1_dtls *d, const void *data, size_t len) {
    return BIO_write(SSL_get_rbio(d), data, (int)len) == (int)len ? 0 : -1;
}

int av1_dtls_handshake(av1_dtls *d) {
    int rc = SSL_do_handshake(d);
    if (rc == 1) return 1;
    int e = SSL_get_error(d, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    ERR_clear_error();
    return -1;
}

size_t av1_dtls_pending(av1_dtls *d) { return BIO_ctrl_pending(SSL_get_wbio(d)); }

int av1_dtls_take(av1_dtls *d, void *buf, size_t len) { return BIO_read(SSL_get_wbio(d), buf, (int)len); }

long av1_dtls_timeout_ms(av1_dtls *d) {
    struct timeval tv;
    if (!DTLSv1_get_timeout(d, &tv)) return -1;
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int av1_dtls_handle_timeout(av1_dtls *d) { return DTLSv1_handle_timeout(d); }

int av1_dtls_peer_fingerprint(av1_dtls *d, char *out, size_t cap) {
    X509 *peer = SSL_get1_peer_certificate(d);
    int rc = fingerprint(peer, out, cap);
    X509_free(peer);
    return rc;
}

int av1_dtls_srtp_profile(av1_dtls *d) {
    SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d);
    return p ? (int)p->id : 0;
}

int av1_dtls_export_srtp(av1_dtls *d, uint8_t *out, size_t len) {
    return SSL_export_keying_material(d, out, len, "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) == 1 ? 0 : -1;
}

// MARK: SRTP

static pthread_once_t srtp_once = PTHREAD_ONCE_INIT;
static int srtp_init_status = -1;

static void init_srtp(void) { srtp_init_status = srtp_init() == srtp_err_status_ok ? 0 : -1; }

int av1_srtp_key_length(int profile) { return profile == 7 ? 16 : 16; }
int av1_srtp_salt_length(int profile) { return profile == 7 ? 12 : 14; }

av1_srtp *av1_srtp_new(int profile, const uint8_t *key_salt, int outbound) {
    pthread_once(&srtp_once, init_srtp);  // endpoints run on several threads
    if (srtp_init_status != 0) return NULL;
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (profile == 7) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    }
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = (unsigned char *)key_salt;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 1;
    srtp_t session = NULL;
    if (srtp_create(&session, &policy) != srtp_err_status_ok) return NULL;
    return session;
}

void av1_srtp_free(av1_srtp *s) { if (s) srtp_dealloc(s); }

int av1_srtp_protect(av1_srtp *s, uint8_t *packet, int *len, int cap, int rtcp) {
    if (cap - *len < SRTP_MAX_TRAILER_LEN) return -1;
    return rtcp ? srtp_protect_rtcp(s, packet, len) : srtp_protect(s, packet, len);
}

int av1_srtp_unprotect(av1_srtp *s, uint8_t *packet, int *len, int rtcp) {
    return rtcp ? srtp_unprotect_rtcp(s, packet, len) : srtp_unprotect(s, packet, len);
}
