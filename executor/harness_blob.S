/* SPDX-License-Identifier: MIT */
/* The Python harness, embedded byte for byte in the binary. */
    .section .rodata
    .global rx_harness_py
    .type rx_harness_py, @object
rx_harness_py:
    .incbin "executor/harness.py"
    .global rx_harness_py_end
rx_harness_py_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
