/* SPDX-License-Identifier: MIT */
#include "executor/deps.h"

#include <string.h>

void
deps_policy_defaults(struct deps_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->mode = DEPS_WHEELS;
    p->network = "bridge";
    p->timeout_ms = DEPS_DEFAULT_TIMEOUT_MS;
    p->max_images = DEPS_DEFAULT_MAX_IMAGES;
    p->pip_image = DEPS_PIP_IMAGE;
}
