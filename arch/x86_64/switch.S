/*
 * switch.S - the callee-saved context switch. Plain SysV x86-64 code with no
 * privileged instruction, so the hosted build links it too.
 *
 * C prototypes:
 *     void x86_switch_stacks(uintptr_t *save_sp, uintptr_t new_sp);
 *     uintptr_t x86_context_frame(uintptr_t stack_top, void (*entry)(void *),
 *                                 void *arg, void (*start_hook)(void));
 *     void x86_context_trampoline(void);   // first "return" of a new context
 *
 * x86_switch_stacks pushes the callee-saved registers (rbp, rbx, r12-r15)
 * on the current stack, stores the stack pointer in *save_sp, loads new_sp
 * and pops the registers saved there: the caller-saved ones are dead across
 * a call by the ABI, so these six and rsp/rip are the whole voluntary
 * context. A preempted task's other registers are in the interrupt frame
 * further up its stack. x86_context_frame builds the same frame on a fresh
 * stack, so the first switch to it "returns" into x86_context_trampoline.
 */
	.text
	.global x86_switch_stacks
	.type x86_switch_stacks, @function
x86_switch_stacks:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size x86_switch_stacks, . - x86_switch_stacks

/* Builds a switch frame below stack_top (rounded down to 16) that pops
 * r12 = entry, r13 = arg, r14 = start_hook, rbp = rbx = r15 = 0 and returns
 * into the trampoline with rsp = the rounded top. Returns the frame's
 * address: the new context's saved stack pointer. */
	.global x86_context_frame
	.type x86_context_frame, @function
x86_context_frame:
	andq	$-16, %rdi
	leaq	-56(%rdi), %rax
	movq	$0, 0(%rax)		/* r15 */
	movq	%rcx, 8(%rax)		/* r14: start hook */
	movq	%rdx, 16(%rax)		/* r13: arg */
	movq	%rsi, 24(%rax)		/* r12: entry */
	movq	$0, 32(%rax)		/* rbx */
	movq	$0, 40(%rax)		/* rbp: ends backtraces */
	leaq	x86_context_trampoline(%rip), %rdx
	movq	%rdx, 48(%rax)		/* return address */
	ret
	.size x86_context_frame, . - x86_context_frame

/* A new context's first switch "returns" here with r12 = entry, r13 = arg,
 * r14 = the start hook (or 0), rbp = 0 (the end of every backtrace) and rsp
 * 16-byte aligned. entry must not return; if it does, ud2 faults loudly. */
	.global x86_context_trampoline
	.type x86_context_trampoline, @function
x86_context_trampoline:
	testq	%r14, %r14
	jz	1f
	call	*%r14
1:	movq	%r13, %rdi
	call	*%r12
	ud2
	.size x86_context_trampoline, . - x86_context_trampoline

	.section .note.GNU-stack, "", @progbits
