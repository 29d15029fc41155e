#ifndef AV1_MEDIA_H
#define AV1_MEDIA_H
// Media for the av1sim endpoints (never the relay's packet path): VP8 and Opus codecs, DTLS with
// the use_srtp extension through memory BIOs, and libsrtp2 sessions. Small functions over the
// libraries' macros and structures so that Swift sees plain calls.
#include <stddef.h>
#include <stdint.h>

// VP8 (libvpx)
typedef struct av1_vp8_encoder av1_vp8_encoder;
typedef struct av1_vp8_decoder av1_vp8_decoder;
/// A realtime VP8 encoder for I420 frames of `width`×`height`. NULL on failure.
av1_vp8_encoder *av1_vp8_encoder_new(int width, int height, int fps, int bitrate_kbps);
void av1_vp8_encoder_free(av1_vp8_encoder *e);
/// Encodes one I420 frame (Y, then U, then V planes, tightly packed). Writes the compressed frame
/// to `out`; returns its size, 0 when the encoder produced nothing, -1 on error or no room.
int av1_vp8_encode(av1_vp8_encoder *e, const uint8_t *i420, int64_t pts, int force_keyframe, uint8_t *out, size_t cap, int *keyframe);
av1_vp8_decoder *av1_vp8_decoder_new(void);
void av1_vp8_decoder_free(av1_vp8_decoder *d);
/// Decodes one compressed frame: 1 when a picture came out (its size and mean luma filled in),
/// 0 when none did, -1 on a corrupt frame.
int av1_vp8_decode(av1_vp8_decoder *d, const uint8_t *data, size_t len, int *width, int *height, double *mean_luma);

// DTLS 1.2 with use_srtp (OpenSSL), over memory BIOs like the TLS functions in CAV1Shim.
typedef struct ssl_ctx_st av1_dtls_ctx;
typedef struct ssl_st av1_dtls;
/// A context with a fresh self-signed ECDSA P-256 certificate; `server` picks the role and
/// `profiles` the SRTP profiles offered or accepted, in order of preference, in OpenSSL's
/// notation ("SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80").
av1_dtls_ctx *av1_dtls_ctx_new(int server, const char *profiles);
void av1_dtls_ctx_free(av1_dtls_ctx *ctx);
/// The certificate's SHA-256 fingerprint as "AB:CD:…" (SDP a=fingerprint form), NUL-terminated.
int av1_dtls_ctx_fingerprint(av1_dtls_ctx *ctx, char *out, size_t cap);
av1_dtls *av1_dtls_new(av1_dtls_ctx *ctx, int server, int mtu);
void av1_dtls_free(av1_dtls *d);
/// Received datagram in. Returns 0 or -1.
int av1_dtls_feed(av1_dtls *d, const void *data, size_t len);
/// 1 when the handshake is complete, 0 when it waits for the peer, -1 when it failed.
int av1_dtls_handshake(av1_dtls *d);
/// Bytes to send, in order (each call takes what one flight wrote so far).
size_t av1_dtls_pending(av1_dtls *d);
int av1_dtls_take(av1_dtls *d, void *buf, size_t len);
/// Milliseconds until a retransmission is due (-1 when none), and running it.
long av1_dtls_timeout_ms(av1_dtls *d);
int av1_dtls_handle_timeout(av1_dtls *d);
/// The peer certificate's SHA-256 fingerprint, as av1_dtls_ctx_fingerprint.
int av1_dtls_peer_fingerprint(av1_dtls *d, char *out, size_t cap);
/// The negotiated SRTP protection profile id (1 AES_CM_128_HMAC_SHA1_80, 7 AEAD_AES_128_GCM) or 0.
int av1_dtls_srtp_profile(av1_dtls *d);
/// RFC 5764 §4.2 keying material: client key, server key, client salt, server salt.
int av1_dtls_export_srtp(av1_dtls *d, uint8_t *out, size_t len);

// SRTP (libsrtp2)
typedef struct srtp_ctx_t_ av1_srtp;
/// A session for one direction: `profile` as above, `key_salt` the master key then salt.
av1_srtp *av1_srtp_new(int profile, const uint8_t *key_salt, int outbound);
void av1_srtp_free(av1_srtp *s);
/// In place; `len` in/out; `cap` bounds the buffer. 0 on success, libsrtp's error otherwise.
int av1_srtp_protect(av1_srtp *s, uint8_t *packet, int *len, int cap, int rtcp);
int av1_srtp_unprotect(av1_srtp *s, uint8_t *packet, int *len, int rtcp);
/// Master key and salt sizes for a profile.
int av1_srtp_key_length(int profile);
int av1_srtp_salt_length(int profile);

#endif
