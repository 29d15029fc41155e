#ifndef AV1_FUZZ_DRIVER_H
#define AV1_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver over `test` with the process's arguments (a fuzz build, -DFUZZING:
/// SwiftPM names an executable's entry point itself, so libFuzzer's own `main` is not used).
/// Without -DFUZZING it only says that this binary was not built for fuzzing, and returns 2.
int av1_fuzz_drive(int argc, char **argv, int (*test)(const uint8_t *data, size_t size));

#endif
