/* SPDX-License-Identifier: MIT */
/* The Python harness, embedded byte for byte in the binary. */
    .section .rodata
    .global harness_py
    .type harness_py, @object
harness_py:
    .incbin "executor/harness.py"
    .global harness_py_end
harness_py_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
