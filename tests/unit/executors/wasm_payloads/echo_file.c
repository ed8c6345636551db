/* Copy input argv["input"] to output argv["output"]; return the bytes copied (< 0: error). */
#include "teaclave_context.h"

static char buffer[16384];

int entrypoint(int argc, char **argv) {
    if (argc != 4)
        return -1;
    int in = teaclave_open_input(argv[1]);
    if (in < 0)
        return -2;
    int out = teaclave_create_output(argv[3]);
    if (out < 0)
        return -3;
    int total = 0, n;
    while ((n = teaclave_read_file(in, buffer, (int)sizeof(buffer))) > 0) {
        if (teaclave_write_file(out, buffer, n) != n)
            return -5;
        total += n;
    }
    if (n < 0)
        return -4;
    if (teaclave_close_file(in) != 0 || teaclave_close_file(out) != 0)
        return -6;
    return total;
}
