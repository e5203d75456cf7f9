/* SPDX-License-Identifier: MIT */
/* The strict seccomp profile, embedded byte for byte. */
    .section .rodata
    .global rx_seccomp_strict
    .type rx_seccomp_strict, @object
rx_seccomp_strict:
    .incbin "images/seccomp-strict.json"
    .global rx_seccomp_strict_end
rx_seccomp_strict_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
