/*
 * boot/boot.S - multiboot2 header and the 32-bit entry.
 *
 * C prototype of what this file ends in:
 *     void kmain(uint32_t multiboot_magic, uint32_t multiboot_info_phys);
 *
 * GRUB enters _start in 32-bit protected mode, paging off, EAX = magic,
 * EBX = physical address of the boot information. We check the magic and the
 * CPU (long mode, NX), build early page tables that map the first 4 GiB
 * (2 MiB pages) twice - identity (for the jump itself) and at the
 * direct-map base (HHDM_BASE, so C can reach physical memory before vmm
 * builds the real tables: GRUB puts the boot information anywhere below
 * 4 GiB, and under UEFI on a large PC it can be above the first GiB) - and
 * the first GiB at KERNEL_VMA (where the kernel is linked) - turn on PAE, long
 * mode, NX and paging with write protection, and jump to kmain in the higher
 * half. vmm_init() replaces these tables with the final ones.
 *
 * The header asks for a 1024x768x32 framebuffer, optionally. GRUB then
 * sets a graphics mode under UEFI (GOP; 1024x768 on OVMF) and under BIOS
 * too (VBE; 1024x768 on SeaBIOS, pc and q35): the VGA text screen at
 * 0xb8000 is then gone, and the kernel learns which from tag 8
 * (start.c, vga_text_mode()). The serial console works either way.
 */

#define MB2_MAGIC	0xE85250D6
#define MB2_BOOT_MAGIC	0x36d76289
#define KERNEL_VMA	0xffffffff80000000

#define PTE_P		0x001
#define PTE_W		0x002
#define PTE_PS		0x080

#define CR0_WP		(1 << 16)
#define CR0_PG		(1 << 31)
#define CR4_PAE		(1 << 5)
#define MSR_EFER	0xC0000080
#define EFER_LME	(1 << 8)
#define EFER_NXE	(1 << 11)

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long	MB2_MAGIC
	.long	0			/* architecture: i386 protected mode */
	.long	mb2_header_end - mb2_header
	.long	-(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))
	/* information request: memory map, command line, loader name,
	 * framebuffer, ACPI RSDP (all optional: GRUB may omit any) */
	.balign 8
mb2_info_request:
	.short	1, 0
	.long	mb2_info_request_end - mb2_info_request
	.long	1, 2, 4, 6, 8, 14, 15
mb2_info_request_end:
	/* framebuffer: 1024x768, 32 bpp preferred; flag 1 = optional, so
	 * GRUB may leave the screen in text mode or pick another mode, and
	 * start.c takes whatever the framebuffer tag (8) then says */
	.balign 8
mb2_framebuffer_request:
	.short	5, 1
	.long	20
	.long	1024, 768, 32
	.balign 8
	.short	0, 0			/* end tag */
	.long	8
mb2_header_end:

	.section .boot.bss, "aw", @nobits
	.balign 4096
boot_pml4:	.skip 4096
boot_pdpt_low:	.skip 4096
boot_pdpt_high:	.skip 4096
boot_pd:	.skip 4 * 4096		/* four page directories: 0-4 GiB */
boot_stack32:	.skip 1024
boot_stack32_top:

	.section .boot.data, "aw"
	.balign 16
boot_gdt:
	.quad	0
	.quad	0x00209a0000000000	/* 0x08: 64-bit code, present, ring 0 */
	.quad	0x0000920000000000	/* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
	.short	boot_gdt_end - boot_gdt - 1
	.long	boot_gdt
boot_magic:	.long 0
boot_info:	.long 0

msg_not_mb2:	.asciz "tricolor: not booted by a multiboot2 loader"
msg_no_lm:	.asciz "tricolor: this CPU has no 64-bit long mode"
msg_no_nx:	.asciz "tricolor: this CPU has no NX (no-execute) bit"

	.section .boot.text, "ax"
	.code32
	.global _start
_start:
	cli
	cld
	mov	$boot_stack32_top, %esp
	mov	%eax, boot_magic
	mov	%ebx, boot_info

	cmp	$MB2_BOOT_MAGIC, %eax
	mov	$msg_not_mb2, %esi
	jne	boot_fail

	/* long mode and NX: CPUID 0x80000001 EDX bits 29 and 20 */
	mov	$0x80000000, %eax
	cpuid
	cmp	$0x80000001, %eax
	mov	$msg_no_lm, %esi
	jb	boot_fail
	mov	$0x80000001, %eax
	cpuid
	test	$(1 << 29), %edx
	mov	$msg_no_lm, %esi
	jz	boot_fail
	test	$(1 << 20), %edx
	mov	$msg_no_nx, %esi
	jz	boot_fail

	/* boot_pd: 4 x 512 x 2 MiB pages = the first 4 GiB. Device memory
	 * among them is uncached by the firmware's MTRRs whatever these
	 * entries say; nothing touches it before vmm_init maps it properly. */
	mov	$boot_pd, %edi
	xor	%ecx, %ecx
1:	mov	%ecx, %eax
	shl	$21, %eax
	or	$(PTE_P | PTE_W | PTE_PS), %eax
	mov	%eax, (%edi, %ecx, 8)
	movl	$0, 4(%edi, %ecx, 8)
	inc	%ecx
	cmp	$(4 * 512), %ecx
	jne	1b

	/* pdpt_low[0..3]: 0..4G, one page directory each */
	mov	$(boot_pd + PTE_P + PTE_W), %eax
	xor	%ecx, %ecx
2:	mov	%eax, boot_pdpt_low(, %ecx, 8)
	add	$4096, %eax
	inc	%ecx
	cmp	$4, %ecx
	jne	2b
	mov	$(boot_pd + PTE_P + PTE_W), %eax
	mov	%eax, boot_pdpt_high + 510 * 8	/* pdpt_high[510]: -2G, the first GiB */

	mov	$(boot_pdpt_low + PTE_P + PTE_W), %eax
	mov	%eax, boot_pml4			/* pml4[0]: identity */
	mov	%eax, boot_pml4 + 256 * 8	/* pml4[256]: HHDM_BASE */
	mov	$(boot_pdpt_high + PTE_P + PTE_W), %eax
	mov	%eax, boot_pml4 + 511 * 8	/* pml4[511]: kernel */

	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$boot_pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$(EFER_LME | EFER_NXE), %eax
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PG | CR0_WP), %eax
	mov	%eax, %cr0

	lgdt	boot_gdt_ptr
	ljmp	$0x08, $boot_long_mode

/* Prints the NUL-terminated message at ESI to COM1 and the VGA text screen,
 * then halts. The serial port is not programmed yet; QEMU and most UARTs
 * after reset still pass the bytes through. */
boot_fail:
	mov	$0xb8000, %edi
1:	lodsb
	test	%al, %al
	jz	2f
	mov	$0x3f8, %dx
	outb	%al, %dx
	movb	%al, (%edi)
	movb	$0x4f, 1(%edi)
	add	$2, %edi
	jmp	1b
2:	cli
	hlt
	jmp	2b

	.code64
boot_long_mode:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	xor	%ax, %ax
	mov	%ax, %fs
	mov	%ax, %gs

	movabs	$boot_stack_top, %rsp
	xor	%ebp, %ebp

	/* The stack-protector canary must be set before any C function with
	 * a protected frame runs: mix the TSC into the guard value. */
	rdtsc
	shl	$32, %rdx
	or	%rax, %rdx
	movabs	$0x9e3779b97f4a7c15, %rax
	imul	%rax, %rdx
	movabs	$__stack_chk_guard, %rax
	mov	%rdx, (%rax)

	mov	boot_magic, %edi
	mov	boot_info, %esi
	movabs	$kmain, %rax
	call	*%rax
3:	cli
	hlt
	jmp	3b

	/* The boot stack, with a 64 KiB gap below it that vmm leaves unmapped
	 * (MSTACK_GAP_BYTES, mm/mm.h: the same gap as below every task stack,
	 * larger than any frame and than how far a faulting stack-clash probe
	 * leaves the stack pointer) so an overflow faults instead of
	 * corrupting bss. Kept out of .bss (see linker.ld) because the
	 * collector scans .bss as roots. */
	.section .kstacks, "aw", @nobits
	.balign 4096
	.global boot_stack_guard, boot_stack_bottom, boot_stack_top
boot_stack_guard:
	.skip 65536
boot_stack_bottom:
	.skip 32768
boot_stack_top:
