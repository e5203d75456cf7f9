/* SPDX-License-Identifier: MIT */
/* The strict seccomp profile, embedded byte for byte. */
    .section .rodata
    .global seccomp_strict_profile
    .type seccomp_strict_profile, @object
seccomp_strict_profile:
    .incbin "images/seccomp-strict.json"
    .global seccomp_strict_profile_end
seccomp_strict_profile_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
