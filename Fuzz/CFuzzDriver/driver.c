#include "CFuzzDriver.h"

#include <stdio.h>

#ifdef FUZZING
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test)(const uint8_t *data, size_t size));

int av1_fuzz_drive(int argc, char **argv, int (*test)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver(&argc, &argv, test);
}
#else
int av1_fuzz_drive(int argc, char **argv, int (*test)(const uint8_t *data, size_t size)) {
    (void)argc;
    (void)argv;
    (void)test;
    fprintf(stderr, "not a fuzz build (make fuzz builds one)\n");
    return 2;
}
#endif
