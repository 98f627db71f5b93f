/* anchortune's fused elementwise kernels for the CPU training path (loaded by engine/native.py).
 *
 * Each function does in one pass over memory what the torch path does in several: the RMS norm with the
 * residual sum before it, its gradient with the residual gradient after it, the rotary embedding of the
 * queries and keys and its gradient, the SwiGLU product and its gradient, the attention's causal softmax
 * together with its score product (and the softmax gradient with its product), and the LM head's softmax
 * cross-entropy with its gradient. bf16 values are stored as uint16_t and converted by hand (round to
 * nearest even), so any C compiler with OpenMP builds it; -O3 -march=native vectorises the loops (on a CPU
 * with AVX-512 and its bf16 instructions the exp, division, short-row and dot-product loops are written with
 * intrinsics, see AT_VECTOR below; -DAT_PORTABLE keeps the plain loops everywhere, as the tests check both).
 * Where the torch path rounds an intermediate to bf16, so does the kernel (noted per function), so both give
 * the same numbers up to the last bit of exp and of the order of a sum; the exceptions round less than the
 * torch path, as autocast's float32 arithmetic does: the rotary embedding (float32 tables, one rounding) and
 * the attention scores (float32, as SDPA's kernels keep them). Rows are shared among `threads` OpenMP
 * threads (the process's libgomp: torch's, whose thread pool is reused).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t bf16;

static inline float bf2f(bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline bf16 f2bf(float f) { /* round to nearest even; NaN stays NaN */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (bf16)(((u & 0x7fffffffu) > 0x7f800000u) ? ((u >> 16) | 0x40u) : r);
}

static inline float rbf(float f) { return bf2f(f2bf(f)); } /* f rounded to bf16, as a float */

static inline float fexp(float x) {
    /* e^x within ~2 ulp: 2^n p(r), r = x - n ln2 (Cephes' polynomial); inlined so that loops vectorise */
    float c = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float n = rintf(c * 1.44269504088896341f);
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &e, 4);
    float v = p * s;
    v = x < -87.3f ? 0.0f : v;
    return x > 88.3f ? INFINITY : v;
}

#if !defined(AT_PORTABLE) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
/* With 512-bit vectors and the bf16 conversion instruction, the kernels whose loops carry exp, a division or
 * short rows (SwiGLU, the attention softmax) are written with intrinsics (and the attention's score products
 * with the bf16 dot-product instruction, see causal_pass): the
 * auto-vectorised loops convert to bf16 in ~8 integer steps and end every row with a scalar tail (scalar exp)
 * and a lane-by-lane scalar reduction, ~100 ns a row, which on an attention row of ~110 keys was most of the
 * time. Here a row's tail is a masked vector and conversion one instruction, which rounds to nearest even as
 * f2bf does (a float32 subnormal reads as 0). 2 cores, bf16: SwiGLU [448 x 1536] 188 -> 121 us, its gradient
 * 343 -> 186 us, the causal softmax [3 x 672 x 224] (then over bf16 scores) 136 -> 49 us, its gradient 57 -> 22 us; the SwiGLU
 * results are the plain loops' bit for bit. A reciprocal estimate with a Newton step in place of the division
 * was no faster. The LM head's softmax stays in plain loops: with intrinsics it took 2.42 -> 2.01 ms for
 * [256 x 49k] (~0.1 % of a step), but its last-bit differences moved the bench's held-out loss (seed 2: 1.3017
 * against 1.3010 with the plain loops, TRL 1.3010). */
#include <immintrin.h>
#define AT_VECTOR 1

static inline __mmask16 vmask(long left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u); }
static inline __m512 vload(const bf16 *p, __mmask16 k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p)), 16));
}
static inline __m256i vround(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }
static inline void vstore(bf16 *p, __mmask16 k, __m512 v) { _mm256_mask_storeu_epi16(p, k, vround(v)); }
static inline __m512 vrbf(__m512 v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(vround(v)), 16));
}
static inline __m512 vexp(__m512 x) { /* fexp, 16 at a time */
    __m512 c = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), c);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512 v = _mm512_scalef_ps(p, n);
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ), v);
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.3f), _CMP_GT_OQ),
                              _mm512_set1_ps(INFINITY));
}
#endif

/* RMS norm of h = x + o (o: bf16 [T, H], or NULL for h = x; h written when o is given):
 * inv[t] = 1 / sqrt(mean(h^2) + eps), n = bf16(h * inv * w). x, h float32 [T, H], w float32 [H]. */
void at_rms_forward(const float *x, const bf16 *o, float *h, const float *w, float eps, bf16 *n, float *inv,
                    long T, long H, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long t = 0; t < T; t++) {
        const float *xr = x + t * H;
        const float *hr = xr;
        bf16 *nr = n + t * H;
        float ss = 0.0f;
        if (o) {
            const bf16 *orow = o + t * H;
            float *hw = h + t * H;
#pragma omp simd reduction(+ : ss)
            for (long i = 0; i < H; i++) {
                float v = xr[i] + bf2f(orow[i]);
                hw[i] = v;
                ss += v * v;
            }
            hr = hw;
        } else {
#pragma omp simd reduction(+ : ss)
            for (long i = 0; i < H; i++) ss += xr[i] * xr[i];
        }
        float r = 1.0f / sqrtf(ss / (float)H + eps);
        inv[t] = r;
#pragma omp simd
        for (long i = 0; i < H; i++) nr[i] = f2bf((hr[i] * r) * w[i]);
    }
}

/* Gradient of at_rms_forward's n with respect to h, for its gradient g (bf16 [T, H]):
 * out = (s - m * mean(s * m)) * inv + add, s = g * w, m = h * inv; add may be NULL and may be out itself;
 * outb = bf16(out) when not NULL. */
void at_rms_backward(const bf16 *g, const float *h, const float *inv, const float *w, const float *add,
                     float *out, bf16 *outb, long T, long H, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long t = 0; t < T; t++) {
        const bf16 *gr = g + t * H;
        const float *hr = h + t * H;
        float *orow = out + t * H;
        float r = inv[t], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (long i = 0; i < H; i++) dot += (bf2f(gr[i]) * w[i]) * (hr[i] * r);
        dot /= (float)H;
        if (add) {
            const float *ar = add + t * H;
#pragma omp simd
            for (long i = 0; i < H; i++) orow[i] = (bf2f(gr[i]) * w[i] - (hr[i] * r) * dot) * r + ar[i];
        } else {
#pragma omp simd
            for (long i = 0; i < H; i++) orow[i] = (bf2f(gr[i]) * w[i] - (hr[i] * r) * dot) * r;
        }
        if (outb) {
            bf16 *b = outb + t * H;
#pragma omp simd
            for (long i = 0; i < H; i++) b[i] = f2bf(orow[i]);
        }
    }
}

/* Rotation of NH heads of size D per token by the angles in cos and sin (float32 [T, D], halves repeating), src
 * row t at src + t * lds, dst row t at dst + t * ldd: y1 = x1 c - sign x2 s, y2 = x2 c + sign x1 s, in float32
 * and rounded to bf16 once, as autocast computes it (bf16 queries and keys times float32 tables, cast to bf16
 * for attention). */
static void rotary(const bf16 *src, long lds, bf16 *dst, long ldd, const float *cos, const float *sin, long T,
                   long NH, long D, float sign, int threads) {
    long half = D / 2;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long t = 0; t < T; t++) {
        const float *c = cos + t * D, *s = sin + t * D;
        for (long k = 0; k < NH; k++) {
            const bf16 *x = src + t * lds + k * D;
            bf16 *y = dst + t * ldd + k * D;
#pragma omp simd
            for (long i = 0; i < half; i++) {
                float x1 = bf2f(x[i]), x2 = bf2f(x[i + half]), ci = c[i], si = sign * s[i];
                y[i] = f2bf(x1 * ci - x2 * si);
                y[i + half] = f2bf(x2 * ci + x1 * si);
            }
        }
    }
}

/* Rotary embedding (rotate_half layout) for float32 tables, one rounding to bf16 per value: src row t at
 * src + t * ld, dst contiguous [T, NH, D]. */
void at_rotary_forward(const bf16 *src, long ld, bf16 *dst, const float *cos, const float *sin, long T, long NH,
                       long D, int threads) {
    rotary(src, ld, dst, NH * D, cos, sin, T, NH, D, 1.0f, threads);
}

/* Gradient of at_rotary_forward (the rotation back): g contiguous [T, NH, D], dst row t at dst + t * ld. */
void at_rotary_backward(const bf16 *g, bf16 *dst, long ld, const float *cos, const float *sin, long T, long NH,
                        long D, int threads) {
    rotary(g, NH * D, dst, ld, cos, sin, T, NH, D, -1.0f, threads);
}

/* SwiGLU product act = silu(gate) * up for gu = [gate | up] bf16 [T, 2I], act bf16 [T, I]; silu(gate)
 * rounded to bf16 before the product, as the torch path. */
void at_swiglu_forward(const bf16 *gu, bf16 *act, long T, long I, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long t = 0; t < T; t++) {
        const bf16 *gate = gu + t * 2 * I, *up = gate + I;
        bf16 *a = act + t * I;
#ifdef AT_VECTOR
        for (long i = 0; i < I; i += 16) {
            __mmask16 k = vmask(I - i);
            __m512 x = vload(gate + i, k);
            __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), vexp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
            vstore(a + i, k, _mm512_mul_ps(vrbf(s), vload(up + i, k)));
        }
#else
#pragma omp simd
        for (long i = 0; i < I; i++) {
            float x = bf2f(gate[i]);
            a[i] = f2bf(rbf(x / (1.0f + fexp(-x))) * bf2f(up[i]));
        }
#endif
    }
}

/* The SwiGLU product again (act, as at_swiglu_forward) and its gradient ggu = [d gate | d up] bf16 [T, 2I]
 * for the gradient gact of act: d up = gact * silu(gate), d gate = bf16(gact * up) * silu'(gate). */
void at_swiglu_backward(const bf16 *gu, const bf16 *gact, bf16 *act, bf16 *ggu, long T, long I, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long t = 0; t < T; t++) {
        const bf16 *gate = gu + t * 2 * I, *up = gate + I, *ga = gact + t * I;
        bf16 *a = act + t * I, *dg = ggu + t * 2 * I, *du = dg + I;
#ifdef AT_VECTOR
        const __m512 one = _mm512_set1_ps(1.0f);
        for (long i = 0; i < I; i += 16) {
            __mmask16 k = vmask(I - i);
            __m512 x = vload(gate + i, k), u = vload(up + i, k), d = vload(ga + i, k);
            __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, vexp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
            __m512 silu = vrbf(_mm512_mul_ps(x, sig));
            vstore(a + i, k, _mm512_mul_ps(silu, u));
            __m512 slope = _mm512_mul_ps(sig, _mm512_fmadd_ps(x, _mm512_sub_ps(one, sig), one));
            vstore(dg + i, k, _mm512_mul_ps(vrbf(_mm512_mul_ps(d, u)), slope));
            vstore(du + i, k, _mm512_mul_ps(d, silu));
        }
#else
#pragma omp simd
        for (long i = 0; i < I; i++) {
            float x = bf2f(gate[i]), u = bf2f(up[i]), d = bf2f(ga[i]);
            float sig = 1.0f / (1.0f + fexp(-x));
            float silu = rbf(x * sig);
            a[i] = f2bf(silu * u);
            dg[i] = f2bf(rbf(d * u) * (sig * (1.0f + x * (1.0f - sig))));
            du[i] = f2bf(d * silu);
        }
#endif
    }
}

#define CP_ROWS 16 /* query rows a pass takes together: n and the row count must be multiples */
/* Causal attention probabilities with their score product, or their gradient with its product, for KV
 * key/value heads: q bf16 [KV, rows, D] (the query heads that share a key/value head stacked, n queries each:
 * row r is query r % n, which sees keys 0 .. r % n), kp the keys as bf16 pairs [KV, D/2, n] (uint32: dims 2d
 * and 2d+1 of key j at kp[d * n + j], the layout of the bf16 dot-product instruction). mode 0: out =
 * softmax(scale * q k^T) over the keys each query sees, 0 after them. mode 1: q is the output gradient g, kp
 * the values and p the probabilities; out = p * (dp - sum(p * dp)) with dp = g v^T (the scale is the
 * caller's). The products accumulate in float32 and stay there through the softmax: only the result is
 * rounded to bf16 (a bf16 score product rounds the scores first: at scores of ~10 that moves each
 * probability by ~2 %; here [3 x 672 x 224] probabilities came out 5x closer to float64's, relative error
 * 7.5e-3 -> 1.5e-3, their gradient 2.3e-3 -> 1.6e-3). Rows go CP_ROWS at a time, so each key pair loaded
 * serves 16 queries; the masked-out half of the scores is not computed. 2 cores, against a bf16 product and
 * the softmax over its scores: forward 131 -> 95 us, backward 106 -> 75 us. Returns -1 without scratch memory. */
static int causal_pass(const bf16 *q, const uint32_t *kp, const bf16 *p, bf16 *out, long KV, long rows, long n,
                       long D, float scale, int mode, int threads) {
    long half = D / 2, blocks = rows / CP_ROWS, stride = n + 16;
    float *scratch = (float *)malloc((size_t)threads * CP_ROWS * (size_t)stride * sizeof(float));
    if (!scratch) return -1;
#pragma omp parallel num_threads(threads)
    {
        float *e = scratch + (size_t)omp_get_thread_num() * CP_ROWS * (size_t)stride;
#pragma omp for schedule(dynamic, 4)
        for (long b = 0; b < KV * blocks; b++) {
            long h = b / blocks, r0 = (b % blocks) * CP_ROWS;
            const bf16 *qb = q + (h * rows + r0) * D;
            const uint32_t *kh = kp + h * half * n;
            long first = r0 % n, m = first + CP_ROWS; /* rows r0.. see keys up to first + i */
            if (m > n) m = n; /* a block never crosses a group's end: rows and n are multiples of 8 */
#ifdef AT_VECTOR
            for (long j = 0; j < m; j += 16) {
                __mmask16 k = vmask(m - j);
                __m512 acc[CP_ROWS];
                for (int i = 0; i < CP_ROWS; i++) acc[i] = _mm512_setzero_ps();
                for (long d = 0; d < half; d++) {
                    __m512bh kv = (__m512bh)_mm512_maskz_loadu_epi32(k, kh + d * n + j);
                    const uint32_t *qd = (const uint32_t *)qb + d;
                    for (int i = 0; i < CP_ROWS; i++)
                        acc[i] = _mm512_dpbf16_ps(acc[i], kv, (__m512bh)_mm512_set1_epi32((int)qd[i * half]));
                }
                for (int i = 0; i < CP_ROWS; i++) _mm512_storeu_ps(e + i * stride + j, acc[i]);
            }
#else
            for (int i = 0; i < CP_ROWS; i++) {
                const bf16 *qr = qb + i * D;
                for (long j = 0; j < m; j++) {
                    float s = 0.0f;
                    for (long d = 0; d < half; d++) {
                        uint32_t w = kh[d * n + j];
                        s += bf2f(qr[2 * d]) * bf2f((bf16)(w & 0xffffu)) + bf2f(qr[2 * d + 1]) * bf2f((bf16)(w >> 16));
                    }
                    e[i * stride + j] = s;
                }
            }
#endif
            for (int i = 0; i < CP_ROWS; i++) {
                long r = r0 + i, mi = r % n + 1;
                float *x = e + i * stride;
                bf16 *o = out + (h * rows + r) * n;
#ifdef AT_VECTOR
                if (mode == 0) {
                    const __m512 sc = _mm512_set1_ps(scale);
                    __m512 top = _mm512_set1_ps(-INFINITY), acc = _mm512_setzero_ps();
                    for (long j = 0; j < mi; j += 16)
                        top = _mm512_mask_max_ps(top, vmask(mi - j), top, _mm512_loadu_ps(x + j));
                    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(top) * scale);
                    for (long j = 0; j < mi; j += 16) {
                        __mmask16 k = vmask(mi - j);
                        __m512 v = _mm512_maskz_mov_ps(k, vexp(_mm512_fmsub_ps(_mm512_loadu_ps(x + j), sc, mx)));
                        _mm512_storeu_ps(x + j, v);
                        acc = _mm512_add_ps(acc, v);
                    }
                    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
                    for (long j = 0; j < mi; j += 16) vstore(o + j, vmask(mi - j), _mm512_mul_ps(_mm512_loadu_ps(x + j), inv));
                } else {
                    const bf16 *pr = p + (h * rows + r) * n;
                    __m512 acc = _mm512_setzero_ps();
                    for (long j = 0; j < mi; j += 16) {
                        __mmask16 k = vmask(mi - j);
                        acc = _mm512_fmadd_ps(vload(pr + j, k), _mm512_maskz_loadu_ps(k, x + j), acc);
                    }
                    __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
                    for (long j = 0; j < mi; j += 16) {
                        __mmask16 k = vmask(mi - j);
                        vstore(o + j, k, _mm512_mul_ps(vload(pr + j, k), _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), dot)));
                    }
                }
#else
                if (mode == 0) {
                    float mx = -INFINITY, sum = 0.0f;
                    for (long j = 0; j < mi; j++) { float v = x[j] * scale; mx = v > mx ? v : mx; }
                    for (long j = 0; j < mi; j++) { float v = fexp(x[j] * scale - mx); x[j] = v; sum += v; }
                    float inv = 1.0f / sum;
                    for (long j = 0; j < mi; j++) o[j] = f2bf(x[j] * inv);
                } else {
                    const bf16 *pr = p + (h * rows + r) * n;
                    float dot = 0.0f;
                    for (long j = 0; j < mi; j++) dot += bf2f(pr[j]) * x[j];
                    for (long j = 0; j < mi; j++) o[j] = f2bf(bf2f(pr[j]) * (x[j] - dot));
                }
#endif
                memset(o + mi, 0, (size_t)(n - mi) * sizeof(bf16));
            }
        }
    }
    free(scratch);
    return 0;
}

int at_causal_probs(const bf16 *q, const uint32_t *kp, bf16 *p, long KV, long rows, long n, long D, float scale,
                    int threads) {
    return causal_pass(q, kp, NULL, p, KV, rows, n, D, scale, 0, threads);
}

int at_causal_probs_backward(const bf16 *g, const uint32_t *vp, const bf16 *p, bf16 *ds, long KV, long rows, long n,
                             long D, int threads) {
    return causal_pass(g, vp, p, ds, KV, rows, n, D, 1.0f, 1, threads);
}

/* out = h + d for h float32 and d bf16, n values (out may be h). */
void at_residual_add(const float *h, const bf16 *d, float *out, long n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (long i = 0; i < n; i++) out[i] = h[i] + bf2f(d[i]);
}

/* Softmax cross-entropy of T rows of logits (bf16, row t at logits + t * ld, V classes) against targets:
 * returns the sum of log p[target]; with grad != 0 each row is overwritten by its gradient, the softmax
 * minus one at the target, rounded to bf16 once. */
double at_softmax_xent(bf16 *logits, long ld, const int64_t *targets, long T, long V, int grad, int threads) {
    double total = 0.0;
    float *scratch = (float *)malloc((size_t)threads * (size_t)(V + 16) * sizeof(float));
    if (!scratch) return NAN;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        float *e = scratch + (size_t)omp_get_thread_num() * (size_t)(V + 16);
#pragma omp for schedule(static)
        for (long t = 0; t < T; t++) {
            bf16 *x = logits + t * ld;
            long target = (long)targets[t];
            float m = -INFINITY, s = 0.0f;
#pragma omp simd reduction(max : m)
            for (long i = 0; i < V; i++) {
                float v = bf2f(x[i]);
                m = v > m ? v : m;
            }
#pragma omp simd reduction(+ : s)
            for (long i = 0; i < V; i++) {
                float v = fexp(bf2f(x[i]) - m);
                e[i] = v;
                s += v;
            }
            total += (double)(bf2f(x[target]) - m - logf(s));
            if (grad) {
                float r = 1.0f / s;
#pragma omp simd
                for (long i = 0; i < V; i++) x[i] = f2bf(e[i] * r);
                x[target] = f2bf(e[target] * r - 1.0f);
            }
        }
    }
    free(scratch);
    return total;
}
