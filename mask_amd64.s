//go:build !purego

#include "textflag.h"

// func maskSSE2(b []byte, k uint32)
// len(b) is a multiple of 32. The key is spread over the four lanes of
// X0; each round XORs 64 bytes, then single 32-byte rounds finish.
TEXT ·maskSSE2(SB), NOSPLIT, $0-28
	MOVQ	b_base+0(FP), DI
	MOVQ	b_len+8(FP), CX
	MOVL	k+24(FP), AX
	MOVL	AX, X0
	PSHUFD	$0, X0, X0
sse64:
	CMPQ	CX, $64
	JB	sse32
	MOVOU	(DI), X1
	MOVOU	16(DI), X2
	MOVOU	32(DI), X3
	MOVOU	48(DI), X4
	PXOR	X0, X1
	PXOR	X0, X2
	PXOR	X0, X3
	PXOR	X0, X4
	MOVOU	X1, (DI)
	MOVOU	X2, 16(DI)
	MOVOU	X3, 32(DI)
	MOVOU	X4, 48(DI)
	ADDQ	$64, DI
	SUBQ	$64, CX
	JMP	sse64
sse32:
	CMPQ	CX, $32
	JB	sseDone
	MOVOU	(DI), X1
	MOVOU	16(DI), X2
	PXOR	X0, X1
	PXOR	X0, X2
	MOVOU	X1, (DI)
	MOVOU	X2, 16(DI)
sseDone:
	RET

// func maskAVX2(b []byte, k uint32)
// len(b) is a multiple of 32. The key is broadcast to the eight lanes of
// Y0; each round XORs 128 bytes, then 32-byte rounds finish.
TEXT ·maskAVX2(SB), NOSPLIT, $0-28
	MOVQ	b_base+0(FP), DI
	MOVQ	b_len+8(FP), CX
	MOVL	k+24(FP), AX
	MOVL	AX, X0
	VPBROADCASTD	X0, Y0
	MOVQ	CX, DX
	SHRQ	$7, DX
	JZ	avx32
avx128:
	VPXOR	(DI), Y0, Y1
	VPXOR	32(DI), Y0, Y2
	VPXOR	64(DI), Y0, Y3
	VPXOR	96(DI), Y0, Y4
	VMOVDQU	Y1, (DI)
	VMOVDQU	Y2, 32(DI)
	VMOVDQU	Y3, 64(DI)
	VMOVDQU	Y4, 96(DI)
	ADDQ	$128, DI
	DECQ	DX
	JNZ	avx128
avx32:
	ANDQ	$127, CX
	SHRQ	$5, CX
	JZ	avxDone
avx32loop:
	VPXOR	(DI), Y0, Y1
	VMOVDQU	Y1, (DI)
	ADDQ	$32, DI
	DECQ	CX
	JNZ	avx32loop
avxDone:
	VZEROUPPER
	RET

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL	leaf+0(FP), AX
	MOVL	subleaf+4(FP), CX
	CPUID
	MOVL	AX, eax+8(FP)
	MOVL	BX, ebx+12(FP)
	MOVL	CX, ecx+16(FP)
	MOVL	DX, edx+20(FP)
	RET

// func xgetbv0() uint32
// The low half of XCR0: which register states the OS saves.
TEXT ·xgetbv0(SB), NOSPLIT, $0-4
	MOVL	$0, CX
	XGETBV
	MOVL	AX, ret+0(FP)
	RET
