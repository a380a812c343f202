/* nnrt_philox.cuh — device Philox4x32-10, bit for bit runtime/philox.c's
 * nnrt_philox4x32 and nnrt_u01, for the CUDA target's kernels (dropout).
 *
 * Key = the 64-bit seed as (low, high) words; the 128-bit counter is
 * (ctr_lo low, ctr_lo high, ctr_hi low, ctr_hi high); ten rounds, the key
 * bumped by the Weyl constants before every round after the first. Element
 * i of a fill or mask is word i % 4 of block (ctr_hi = stream, ctr_lo =
 * i / 4), as on the CPU, so a thread can make any element alone.
 *
 * The names carry _cu_ so that a translation unit may include nnrt.h (the
 * host versions) as well.
 */
#ifndef NNRT_PHILOX_CUH
#define NNRT_PHILOX_CUH

#include <stdint.h>

/* One block: out = Philox4x32-10(key = seed, counter = (ctr_hi, ctr_lo)). */
static __device__ __forceinline__ void nnrt_cu_philox4x32(uint64_t seed, uint64_t ctr_hi, uint64_t ctr_lo,
                                                          uint32_t out[4]) {
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u; /* Weyl key increments */
            k1 += 0xBB67AE85u;
        }
        /* the two 32x32 -> 64 products: word 0 by 0xD2511F53, word 2 by 0xCD9E8D57 */
        const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Uniform in [0, 1): the top 24 bits times 2^-24, exact in float. */
static __device__ __forceinline__ float nnrt_cu_u01(uint32_t u) { return (float)(u >> 8) * (1.0f / 16777216.0f); }

#endif /* NNRT_PHILOX_CUH */
