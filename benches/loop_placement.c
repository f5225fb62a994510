/* The accumulation's pass loop, as rustc compiled it for D = 8 (17 instructions, 76 bytes), run
 * from every start offset within a 64-byte line; then the same loop taking two samples per
 * iteration (as src/vjp.rs compiled it from 73480ae until the passes took two columns at a
 * time: 31 instructions, 150 bytes, the same sums in the same order); then the one-sample loop
 * on registers xmm8-15 (a REX byte on every instruction, 89 bytes). See "Code placement" in docs/PERFORMANCE.md.
 *
 *   gcc -O2 -o /tmp/loop_placement benches/loop_placement.c && /tmp/loop_placement
 *
 * Cycles assume the 3.95 GHz of the machine docs/PERFORMANCE.md was measured on. */
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec a;
    clock_gettime(CLOCK_MONOTONIC, &a);
    return a.tv_sec + a.tv_nsec * 1e-9;
}

double g[64 * 8] __attribute__((aligned(64)));
double e[64 * 16] __attribute__((aligned(64)));
static const long reps = 2000000;

/* One sample's update: its noise (at NOISE(%1,%rax,2)) broadcast into B, its gradient's four
 * pairs (at G0..G3(%2,%rax,1)) loaded into L0-L3, the products added into S0-S3. */
#define SAMPLE(NOISE, G0, G1, G2, G3, B, L0, L1, L2, L3, S0, S1, S2, S3)                      \
    " movsd " NOISE "(%1,%%rax,2),%%" B "\n unpcklpd %%" B ",%%" B "\n"                        \
    " movupd " G0 "(%2,%%rax,1),%%" L0 "\n movupd " G1 "(%2,%%rax,1),%%" L1 "\n"               \
    " movupd " G2 "(%2,%%rax,1),%%" L2 "\n movupd " G3 "(%2,%%rax,1),%%" L3 "\n"               \
    " mulpd %%" B ",%%" L0 "\n addpd %%" L0 ",%%" S0 "\n"                                       \
    " mulpd %%" B ",%%" L1 "\n addpd %%" L1 ",%%" S1 "\n"                                       \
    " mulpd %%" B ",%%" L2 "\n addpd %%" L2 ",%%" S2 "\n"                                       \
    " mulpd %%" B ",%%" L3 "\n addpd %%" L3 ",%%" S3 "\n"

/* The first sample of an iteration; the second sits 128 bytes on in the noise, 64 in the
 * gradients. */
#define FIRST(...) SAMPLE("", "-0x30", "-0x20", "-0x10", "", __VA_ARGS__)
#define SECOND(...) SAMPLE("0x80", "0x10", "0x20", "0x30", "0x40", __VA_ARGS__)

/* BODY as a loop starting PAD + 3 bytes into a 64-byte line (after a 1-byte nop and a 2-byte
 * xor), advancing STEP bytes of gradients per iteration: broadcast register B, loads into
 * L0-L3, sums in S0-S3. */
#define PASS(PAD, BODY, STEP, B, L0, L1, L2, L3, S0, S1, S2, S3)                               \
    t = now();                                                                                  \
    for (long r = 0; r < reps; r++) {                                                           \
        double *gp = g + 6, *ep = e;                                                            \
        long end = 64 * 64;                                                                     \
        __asm__ volatile("jmp 2f\n .p2align 6\n .skip " #PAD "+1,0x90\n 2: xor %%eax,%%eax\n"   \
                         "1:" BODY " add $" STEP ",%%rax\n cmp %%rax,%0\n jne 1b"               \
                         : "+r"(end), "+r"(ep), "+r"(gp)                                        \
                         :                                                                      \
                         : "rax", B, L0, L1, L2, L3, S0, S1, S2, S3, "memory");                 \
    }                                                                                           \
    printf("start %2d: %.2f  ", (PAD + 3) % 64, (now() - t) * 3.95e9 / (reps * 64.0));

/* PASS with its register list given as one macro (expanded before PASS counts arguments). */
#define RUN(...) PASS(__VA_ARGS__)

#define RUSTC_REGISTERS "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm0", "xmm1", "xmm2", "xmm3"
#define REX_REGISTERS "xmm12", "xmm13", "xmm14", "xmm15", "xmm11", "xmm8", "xmm9", "xmm10", "xmm7"

/* As rustc allocates it: xmm0-8, 76 bytes. */
#define SHORT(PAD) RUN(PAD, FIRST(RUSTC_REGISTERS), "0x40", RUSTC_REGISTERS)

/* Two samples per iteration, same registers: 150 bytes. */
#define PAIRED(PAD)                                                                             \
    RUN(PAD, FIRST(RUSTC_REGISTERS) SECOND(RUSTC_REGISTERS), "0x80", RUSTC_REGISTERS)

/* On xmm7-15: a REX byte on every instruction, 89 bytes. */
#define LONG(PAD) RUN(PAD, FIRST(REX_REGISTERS), "0x40", REX_REGISTERS)

int main(void) {
    double t;
    for (int i = 0; i < 512; i++) g[i] = 1e-9 * i;
    for (int i = 0; i < 1024; i++) e[i] = 1e-9 * i;
    printf("cycles per sample, 76-byte loop:\n");
    SHORT(0) SHORT(2) SHORT(4) SHORT(5) SHORT(6) SHORT(8) printf("\n");
    SHORT(14) SHORT(30) SHORT(46) SHORT(58) SHORT(60) SHORT(62) printf("\n");
    printf("cycles per sample, 150-byte loop (two samples per iteration):\n");
    PAIRED(0) PAIRED(2) PAIRED(4) PAIRED(5) PAIRED(6) PAIRED(8) printf("\n");
    PAIRED(14) PAIRED(30) PAIRED(46) PAIRED(58) PAIRED(60) PAIRED(62) printf("\n");
    printf("cycles per sample, 89-byte loop (REX on every instruction):\n");
    LONG(0) LONG(2) LONG(4) LONG(5) LONG(6) LONG(8) printf("\n");
    LONG(14) LONG(30) LONG(46) LONG(58) LONG(60) LONG(62) printf("\n");
    return 0;
}
