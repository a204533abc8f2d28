/*
 * arch/x86_64/trampoline.h - the layout of the AP start-up trampoline's
 * page (trampoline.S), shared by the assembly and smp.c: offsets from the
 * page's start. The code runs from offset 0 (the SIPI vector is the page
 * number); the parameters follow at TRAMP_PARAMS. smp.c copies the page
 * below 1 MiB and then patches it: adds the page's physical address to
 * the three absolute addresses (the GDT pointer's base and the two far
 * jumps' offsets, assembled relative to the page) and stores the control
 * registers, the stack, the per-CPU block and the C entry point.
 */
#pragma once

#define TRAMP_PARAMS 0x200
#define TRAMP_GDT 0x200        /* null, 32-bit code, data, 64-bit code */
#define TRAMP_GDT_PTR 0x220    /* .word limit, .long base (+ page) */
#define TRAMP_PM32_JUMP 0x228  /* m16:32 far pointer (offset + page) */
#define TRAMP_LM64_JUMP 0x230  /* m16:32 far pointer (offset + page) */
#define TRAMP_CR3 0x238        /* the kernel's PML4 (below 4 GiB) */
#define TRAMP_CR4 0x240
#define TRAMP_CR0 0x248
#define TRAMP_STACK 0x250      /* the AP's stack top */
#define TRAMP_PERCPU 0x258     /* its per-CPU block (first argument) */
#define TRAMP_ENTRY 0x260      /* the C entry: void (*)(percpu *) */
#define TRAMP_SIZE 0x268

#define TRAMP_SEL_CODE32 0x08
#define TRAMP_SEL_DATA 0x10
#define TRAMP_SEL_CODE64 0x18
