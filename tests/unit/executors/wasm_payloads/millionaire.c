/* Yao's millionaire problem: which of two parties is richer?
 *
 * argv (keys sorted) = input_file_id1, A, input_file_id2, B, output_file_id, OUT. Each input
 * holds a decimal fortune; the data name of the richer input is written to OUT and the number
 * of bytes written is returned. Negative results are errors.
 */
#include "teaclave_context.h"

static long read_fortune(const char *name) {
    char buffer[64];
    int length = 0, n;
    long value = 0;
    int fd = teaclave_open_input(name);
    if (fd < 0)
        return -1;
    while (length < (int)sizeof(buffer) &&
           (n = teaclave_read_file(fd, buffer + length, (int)sizeof(buffer) - length)) > 0)
        length += n;
    if (n < 0 || teaclave_close_file(fd) != 0)
        return -1;
    for (int i = 0; i < length && buffer[i] >= '0' && buffer[i] <= '9'; i++)
        value = value * 10 + (buffer[i] - '0');
    return value;
}

static int length_of(const char *text) {
    int n = 0;
    while (text[n])
        n++;
    return n;
}

int entrypoint(int argc, char **argv) {
    if (argc != 6)
        return -1;
    long a = read_fortune(argv[1]);
    long b = read_fortune(argv[3]);
    if (a < 0 || b < 0)
        return -2;
    const char *richer = a > b ? argv[1] : argv[3];
    int out = teaclave_create_output(argv[5]);
    if (out < 0)
        return -3;
    int written = teaclave_write_file(out, richer, length_of(richer));
    if (teaclave_close_file(out) != 0)
        return -4;
    return written;
}
