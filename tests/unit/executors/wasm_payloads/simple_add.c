/* Add the two decimal arguments (argv = adder1, a, adder2, b with keys sorted). */
#include "teaclave_context.h"

static int parse_int(const char *text) {
    int sign = 1, value = 0;
    if (*text == '-') {
        sign = -1;
        text++;
    }
    for (; *text >= '0' && *text <= '9'; text++)
        value = value * 10 + (*text - '0');
    return sign * value;
}

int entrypoint(int argc, char **argv) {
    if (argc != 4)
        return -1;
    return parse_int(argv[1]) + parse_int(argv[3]);
}
