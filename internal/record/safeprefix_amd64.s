//go:build !purego

#include "textflag.h"

// unsafeMask sets bit i of DST for each byte i of X0 that JSON strings do not hold as they are:
// below 0x20 as a signed byte (control characters, and every byte of 0x80 or more), '"' or '\\'.
// X1, X2 and X5 hold sixteen copies of 0x20, '"' and '\\'; X0, X3 and X4 are overwritten.
#define unsafeMask(DST) \
	MOVO     X1, X3  \
	PCMPGTB  X0, X3  \
	MOVO     X0, X4  \
	PCMPEQB  X2, X4  \
	PCMPEQB  X5, X0  \
	POR      X4, X3  \
	POR      X0, X3  \
	PMOVMSKB X3, DST

// func safePrefixSSE2(b []byte) int
// len(b) must be at least 16: the last bytes are tested as the last sixteen, overlapping bytes
// tested before, whose bits are shifted out.
TEXT ·safePrefixSSE2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	MOVQ $0x2020202020202020, AX
	MOVQ AX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X2
	PUNPCKLQDQ X2, X2
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X5
	PUNPCKLQDQ X5, X5
	XORQ CX, CX          // bytes tested
	LEAQ -16(BX), DX     // where the last sixteen bytes start

loop:
	CMPQ CX, DX
	JA   tail
	MOVOU (SI)(CX*1), X0
	unsafeMask(AX)
	TESTL AX, AX
	JNZ  found
	ADDQ $16, CX
	JMP  loop

tail:
	CMPQ CX, BX
	JEQ  whole
	MOVOU (SI)(DX*1), X0
	unsafeMask(AX)
	SUBQ DX, CX          // the overlap, 1 to 15 bytes
	SHRL CX, AX
	TESTL AX, AX
	JZ   whole
	ADDQ DX, CX

found:
	BSFL AX, AX
	ADDQ AX, CX
	MOVQ CX, ret+24(FP)
	RET

whole:
	MOVQ BX, ret+24(FP)
	RET
