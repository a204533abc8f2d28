/*
 * isr.S - interrupt and exception entry, and the arch_try save/resume pair.
 *
 * C prototypes implemented here:
 *     void isr_stub_N(void);      // N = 0..255, addresses in isr_stub_table
 *     int try_save(try_context *ctx);
 *     _Noreturn void try_resume(const try_context *ctx);
 *
 * Every vector enters a stub that pushes a dummy error code when the CPU did
 * not push one, then the vector number, then jumps to isr_common, which saves
 * the general registers to form a trap_frame (arch/x86_64/x86.h; offsets
 * pinned in idt.c), calls trap_dispatch(frame) and returns with iretq.
 */

/* The CPU pushes an error code for vectors 8, 10-14, 17, 21, 29 and 30. */
	.text
	.altmacro
.macro isr_stub vector
	.balign 16
isr_stub_\vector:
	.if !((\vector == 8) || (\vector == 10) || (\vector == 11) || (\vector == 12) || (\vector == 13) || (\vector == 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30))
	pushq	$0
	.endif
	pushq	$\vector
	jmp	isr_common
.endm

.set vec, 0
.rept 256
	isr_stub %vec
	.set vec, vec + 1
.endr

	.balign 16
isr_common:
	cld
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	mov	%rsp, %rdi
	/* Frame-pointer chain for backtraces: a fake frame whose return
	 * address is the interrupted RIP, linked to the interrupted RBP. */
	pushq	17*8(%rsp)		/* trap_frame.rip */
	pushq	%rbp
	mov	%rsp, %rbp
	call	trap_dispatch
	add	$16, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	add	$16, %rsp		/* vector and error code */
	iretq

.macro stub_address vector
	.quad	isr_stub_\vector
.endm

	.section .rodata
	.balign 8
	.global isr_stub_table
isr_stub_table:
.set vec, 0
.rept 256
	stub_address %vec
	.set vec, vec + 1
.endr

/* try_context: rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags (idt.c pins
 * the offsets). try_save returns 0 now, and 1 when try_resume comes back to
 * it; resuming restores the saved interrupt flag too. */
	.text
	.global try_save
try_save:
	mov	%rbx, 0(%rdi)
	mov	%rbp, 8(%rdi)
	mov	%r12, 16(%rdi)
	mov	%r13, 24(%rdi)
	mov	%r14, 32(%rdi)
	mov	%r15, 40(%rdi)
	lea	8(%rsp), %rax		/* rsp after our return */
	mov	%rax, 48(%rdi)
	mov	(%rsp), %rax		/* our return address */
	mov	%rax, 56(%rdi)
	pushfq
	popq	%rax
	mov	%rax, 64(%rdi)
	xor	%eax, %eax
	ret

	.global try_resume
try_resume:
	mov	0(%rdi), %rbx
	mov	8(%rdi), %rbp
	mov	16(%rdi), %r12
	mov	24(%rdi), %r13
	mov	32(%rdi), %r14
	mov	40(%rdi), %r15
	mov	48(%rdi), %rsp
	pushq	64(%rdi)
	popfq
	mov	$1, %eax
	jmp	*56(%rdi)

	.section .note.GNU-stack, "", @progbits
