/*
 * wiring: the one place where the layers below the service are handed the
 * functions of the layers above them that they call back.  Dependencies in
 * src/ point down only (tests/layering.sh); where a lower subsystem must
 * reach a higher one -- the loader looking up names in dns/, a generation
 * building and freeing the parts balance/ and edge/ hang on it -- it calls
 * a function it was given here, at start, before anything else runs.
 */
#ifndef TCPLB_WIRING_H
#define TCPLB_WIRING_H

#include "config/gen.h"

/* Install every such function.  Idempotent; main thread, before the first
 * configuration is loaded. */
void wiring_install(void);

/* The runtime parts table alone, for a program that installs its own
 * lookups (the configuration fuzzer). */
const struct gen_parts *wiring_gen_parts(void);

#endif
