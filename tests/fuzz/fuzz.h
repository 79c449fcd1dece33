/*
 * fuzz.h — what every fuzz target defines: libFuzzer's entry point.  The
 * same target is linked with libFuzzer (tests/fuzz/fuzz-NAME, configure
 * --enable-fuzzing) and with replay.c (tests/fuzz/replay-NAME, every build:
 * make check replays the committed corpus).  A target calls the project's
 * real decoder or parser, frees all it allocated, and never exits.
 */
#ifndef DRORCH_FUZZ_H
#define DRORCH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
