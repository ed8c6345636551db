/* The host API of the teaclave-py WebAssembly executor (Teaclave's WAMR file calls).
 *
 * Every function is imported from module "env". Files are named by the task's data names
 * (never paths). Handles are positive; write handles have bit 0x40000000 set. Every call
 * returns -1 on failure (unknown name, bad handle, pointer outside memory, limit reached).
 */
#ifndef TEACLAVE_CONTEXT_H
#define TEACLAVE_CONTEXT_H

int teaclave_open_input(const char *fid);
int teaclave_create_output(const char *fid);
int teaclave_read_file(int fd, void *buf, int size);
int teaclave_write_file(int fd, const void *buf, int size);
int teaclave_close_file(int fd);

#endif
