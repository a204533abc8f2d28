/*
 * switch.S - the callee-saved context switch. Plain SysV x86-64 code with no
 * privileged instruction, so the hosted build links it too.
 *
 * C prototypes:
 *     void x86_switch_stacks(uintptr_t *save_sp, uintptr_t new_sp);
 *     uintptr_t x86_context_frame(uintptr_t stack_top, void (*entry)(void *),
 *                                 void *arg, void (*start_hook)(void));
 *     void x86_context_trampoline(void);   // first "return" of a new context
 *     void x86_call_spilled(uintptr_t *spill_sp, void (*fn)(void *), void *arg);
 *     uintptr_t x86_hold_in_callee_saved(uintptr_t hidden, uintptr_t key,
 *                                        unsigned reg, void (*fn)(void));
 *     void x86_call_with_dirty_scratch(uintptr_t hidden, uintptr_t key,
 *                                      void (*fn)(void));
 *     void x86_clear_stack(uintptr_t lo, uint64_t keep);
 *
 * x86_switch_stacks pushes the callee-saved registers (rbp, rbx, r12-r15)
 * on the current stack, stores the stack pointer in *save_sp, loads new_sp
 * and pops the registers saved there: the caller-saved ones are dead across
 * a call by the ABI, so these six and rsp/rip are the whole voluntary
 * context. A preempted task's other registers are in the interrupt frame
 * further up its stack. On the way out the caller-saved registers are
 * zeroed: what the previous task left in them is dead, and if this task
 * were interrupted before overwriting them, an interrupt frame on its stack
 * would carry the other task's stale values into the collector's
 * conservative stack scan (keeping garbage alive). x86_context_frame builds the same frame on a fresh
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
	xorl	%eax, %eax
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%esi, %esi
	xorl	%edi, %edi
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	ret
	.size x86_switch_stacks, . - x86_switch_stacks

/*
 * x86_call_spilled: calls fn(arg) after pushing every callee-saved register
 * (rbp as a normal frame, so backtraces walk through), and, unless
 * *spill_sp is already set by an outer call, records the address of the
 * lowest pushed register there, clearing it again on return. From there
 * up the pushed registers and the return address lie exactly as in
 * x86_switch_stacks' frame, so the same walkers read both. Everything
 * the caller's code may still hold - its frames and every register the ABI
 * keeps live across a call - then lies in [*spill_sp, stack top), while
 * fn's own frames lie below it. A pushed zero keeps rsp 16-aligned at the
 * call without leaving a stale slot inside the recorded range.
 */
	.global x86_call_spilled
	.type x86_call_spilled, @function
x86_call_spilled:
	pushq	%rbp
	movq	%rsp, %rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushq	$0
	movq	%rdi, %rbx		/* spill_sp, kept across fn */
	xorl	%r12d, %r12d		/* 1 if this call set *spill_sp */
	cmpq	$0, (%rdi)
	jne	1f
	leaq	8(%rsp), %rax		/* the pushed r15 */
	movq	%rax, (%rdi)
	movl	$1, %r12d
1:	movq	%rdx, %rdi
	call	*%rsi
	testl	%r12d, %r12d
	jz	2f
	movq	$0, (%rbx)
2:	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size x86_call_spilled, . - x86_call_spilled

/*
 * x86_hold_in_callee_saved (for the collector's tests): puts hidden ^ key
 * in callee-saved register number reg (0 rbx, 1 r12, 2 r13, 3 r14, 4 r15),
 * zero in the other four, calls fn(), and returns that register ^ key. The
 * decoded value exists nowhere but in that register while fn runs, so fn
 * (a collection) keeps the object it points to only if it finds the
 * register. The caller's values of the five are saved and restored.
 */
	.global x86_hold_in_callee_saved
	.type x86_hold_in_callee_saved, @function
x86_hold_in_callee_saved:
	pushq	%rbp
	movq	%rsp, %rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushq	%rsi			/* the key, to hide the result again */
	xorl	%ebx, %ebx
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	xorq	%rsi, %rdi		/* the plain value, in rdi only */
	xorl	%esi, %esi
	cmpl	$0, %edx
	jne	1f
	movq	%rdi, %rbx
	jmp	5f
1:	cmpl	$1, %edx
	jne	2f
	movq	%rdi, %r12
	jmp	5f
2:	cmpl	$2, %edx
	jne	3f
	movq	%rdi, %r13
	jmp	5f
3:	cmpl	$3, %edx
	jne	4f
	movq	%rdi, %r14
	jmp	5f
4:	movq	%rdi, %r15
5:	xorl	%edi, %edi
	xorl	%edx, %edx
	call	*%rcx
	movq	%rbx, %rax
	orq	%r12, %rax
	orq	%r13, %rax
	orq	%r14, %rax
	orq	%r15, %rax		/* four are zero unless fn broke the ABI */
	xorq	(%rsp), %rax
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size x86_hold_in_callee_saved, . - x86_hold_in_callee_saved

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

/*
 * x86_call_with_dirty_scratch (for the collector's tests): calls fn() with
 * hidden ^ key in every caller-saved register fn receives nothing in (rax,
 * rdx, rsi, rdi, r8-r11; rcx holds fn itself), as code that just finished
 * with a pointer leaves them; they are zeroed again after fn. If fn blocks,
 * the values reach the context switch: they must not keep the object alive.
 */
	.global x86_call_with_dirty_scratch
	.type x86_call_with_dirty_scratch, @function
x86_call_with_dirty_scratch:
	pushq	%rbp
	movq	%rsp, %rbp
	movq	%rdx, %rcx
	xorq	%rsi, %rdi
	movq	%rdi, %rax
	movq	%rdi, %rdx
	movq	%rdi, %rsi
	movq	%rdi, %r8
	movq	%rdi, %r9
	movq	%rdi, %r10
	movq	%rdi, %r11
	call	*%rcx
	xorl	%eax, %eax
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%esi, %esi
	xorl	%edi, %edi
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	popq	%rbp
	ret
	.size x86_call_with_dirty_scratch, . - x86_call_with_dirty_scratch

/*
 * x86_clear_stack: zeroes every word of [lo, rsp) - all the dead stack below
 * its caller's frame, down to lo (8-aligned) - that is not already 0 or
 * `keep`, then zeroes the scratch registers. It keeps nothing on the stack
 * itself (a C function could not clear its own frame and red zone, which
 * is exactly where its caller's next callee goes). The caller keeps
 * interrupts off: an interrupt frame pushed during the loop would be
 * cleared after use (harmless), one pushed after it would leave registers
 * behind.
 */
	.global x86_clear_stack
	.type x86_clear_stack, @function
x86_clear_stack:
	movq	%rsp, %rax
1:	subq	$8, %rax
	cmpq	%rdi, %rax
	jb	3f
	movq	(%rax), %rcx
	testq	%rcx, %rcx
	jz	1b
	cmpq	%rsi, %rcx
	je	1b
	movq	$0, (%rax)
	jmp	1b
3:	xorl	%eax, %eax
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%esi, %esi
	xorl	%edi, %edi
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	ret
	.size x86_clear_stack, . - x86_clear_stack

	.section .note.GNU-stack, "", @progbits
