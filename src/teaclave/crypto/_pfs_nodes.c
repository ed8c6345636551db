/*
 * teaclave.crypto._pfs_nodes: the per-node AES-128-GCM loop of teaclave-file-128.
 *
 * Every 4096-byte node of an SGX protected file is encrypted under its own key, so a node
 * costs one key setup plus 4 KiB of AES-GCM. Through `cryptography` that is one AESGCM object
 * per node (about 2 us of setup, which caps one core at about 0.4x `openssl speed`). This module
 * runs the same OpenSSL AES-128-GCM (EVP interface, all-zero 12-byte IV, no AAD) over a run of
 * nodes with one reused cipher context and without the GIL, so runs also proceed in parallel
 * threads. It holds no format logic: the caller passes contiguous nodes and their entries
 * (key 16 bytes || tag 16 bytes, the layout of an MHT node) and does all file I/O. src and
 * dst may be the same buffer (in-place).
 *
 *   decrypt_nodes(entries, src, dst) -> int
 *       src: n * 4096 ciphertext bytes, entries: >= n * 32 bytes, dst: writable, >= n * 4096.
 *       Returns -1 when every node authenticated, else the index of the first node that did
 *       not; then all of dst[: n * 4096] is zeroed so no unauthenticated plaintext remains.
 *   encrypt_nodes(keys, src, dst, entries) -> None
 *       keys: >= n * 16 bytes, one fresh key per node; src: n * 4096 plaintext bytes; dst:
 *       writable, >= n * 4096, receives the ciphertext; entries: writable, >= n * 32, receives
 *       each node's key || tag.
 *
 * Built with TEACLAVE_STATIC_OPENSSL (setup.py, when scripts/build_openssl.py built one), the
 * module carries its own libcrypto with hidden symbols; it then loads no OpenSSL config file,
 * so OPENSSL_CONF, meant for the system library, cannot change it.
 *
 * The Python fallback with identical behaviour is teaclave.crypto.protected_fs_nodes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#define NODE_SIZE 4096
#define ENTRY_SIZE 32
#define KEY_SIZE 16
#define TAG_SIZE 16

static const unsigned char ZERO_IV[12] = {0};

/* Check sizes shared by both directions; returns the node count or -1 with an exception set. */
static Py_ssize_t node_count(const Py_buffer *entries, const Py_buffer *src, const Py_buffer *dst)
{
    if (src->len % NODE_SIZE != 0) {
        PyErr_Format(PyExc_ValueError, "src: %zd bytes is not a multiple of %d", src->len,
                     NODE_SIZE);
        return -1;
    }
    Py_ssize_t n = src->len / NODE_SIZE;
    if (entries->len < n * ENTRY_SIZE) {
        PyErr_Format(PyExc_ValueError, "entries: %zd bytes, %zd nodes need %zd", entries->len, n,
                     n * ENTRY_SIZE);
        return -1;
    }
    if (dst->len < n * NODE_SIZE) {
        PyErr_Format(PyExc_ValueError, "dst: %zd bytes, %zd nodes need %zd", dst->len, n,
                     n * NODE_SIZE);
        return -1;
    }
    return n;
}

static PyObject *decrypt_nodes(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer entries, src, dst;
    if (!PyArg_ParseTuple(args, "y*y*w*:decrypt_nodes", &entries, &src, &dst))
        return NULL;
    Py_ssize_t n = node_count(&entries, &src, &dst);
    Py_ssize_t bad = -1;
    int setup_failed = 0;
    if (n > 0) {
        const unsigned char *e = entries.buf, *s = src.buf;
        unsigned char *d = dst.buf;
        Py_BEGIN_ALLOW_THREADS
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (ctx == NULL || !EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL)) {
            setup_failed = 1;
        } else {
            for (Py_ssize_t i = 0; i < n; i++) {
                const unsigned char *entry = e + i * ENTRY_SIZE;
                unsigned char *out = d + i * NODE_SIZE;
                int len = 0, last = 0;
                if (!EVP_DecryptInit_ex(ctx, NULL, NULL, entry, ZERO_IV) ||
                    !EVP_DecryptUpdate(ctx, out, &len, s + i * NODE_SIZE, NODE_SIZE) ||
                    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE,
                                         (void *)(entry + KEY_SIZE)) ||
                    EVP_DecryptFinal_ex(ctx, out + len, &last) <= 0 ||
                    len + last != NODE_SIZE) {
                    bad = i;
                    break;
                }
            }
        }
        if (bad >= 0 || setup_failed)
            memset(d, 0, (size_t)(n * NODE_SIZE));
        EVP_CIPHER_CTX_free(ctx);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&entries);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (n < 0)
        return NULL;
    if (setup_failed) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL could not set up AES-128-GCM");
        return NULL;
    }
    return PyLong_FromSsize_t(bad);
}

static PyObject *encrypt_nodes(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer keys, src, dst, entries;
    if (!PyArg_ParseTuple(args, "y*y*w*w*:encrypt_nodes", &keys, &src, &dst, &entries))
        return NULL;
    Py_ssize_t n = node_count(&entries, &src, &dst);
    if (n >= 0 && keys.len < n * KEY_SIZE) {
        PyErr_Format(PyExc_ValueError, "keys: %zd bytes, %zd nodes need %zd", keys.len, n,
                     n * KEY_SIZE);
        n = -1;
    }
    int failed = 0;
    if (n > 0) {
        const unsigned char *k = keys.buf, *s = src.buf;
        unsigned char *e = entries.buf, *d = dst.buf;
        Py_BEGIN_ALLOW_THREADS
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (ctx == NULL || !EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL)) {
            failed = 1;
        } else {
            for (Py_ssize_t i = 0; i < n; i++) {
                const unsigned char *key = k + i * KEY_SIZE;
                unsigned char *entry = e + i * ENTRY_SIZE;
                unsigned char *out = d + i * NODE_SIZE;
                int len = 0, last = 0;
                if (!EVP_EncryptInit_ex(ctx, NULL, NULL, key, ZERO_IV) ||
                    !EVP_EncryptUpdate(ctx, out, &len, s + i * NODE_SIZE, NODE_SIZE) ||
                    !EVP_EncryptFinal_ex(ctx, out + len, &last) || len + last != NODE_SIZE ||
                    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, entry + KEY_SIZE)) {
                    failed = 1;
                    break;
                }
                memcpy(entry, key, KEY_SIZE);
            }
        }
        if (failed) {
            memset(d, 0, (size_t)(n * NODE_SIZE));
            memset(e, 0, (size_t)(n * ENTRY_SIZE));
        }
        EVP_CIPHER_CTX_free(ctx);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&keys);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    PyBuffer_Release(&entries);
    if (n < 0)
        return NULL;
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL AES-128-GCM encryption failed");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *openssl_version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(OpenSSL_version(OPENSSL_VERSION));
}

static PyMethodDef methods[] = {
    {"decrypt_nodes", decrypt_nodes, METH_VARARGS,
     "decrypt_nodes(entries, src, dst) -> int: -1, or the first node that failed (dst zeroed)"},
    {"encrypt_nodes", encrypt_nodes, METH_VARARGS,
     "encrypt_nodes(keys, src, dst, entries) -> None: ciphertext to dst, key||tag to entries"},
    {"openssl_version", openssl_version, METH_NOARGS, "The OpenSSL version linked."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "teaclave.crypto._pfs_nodes",
    .m_doc = "AES-128-GCM over runs of teaclave-file-128 nodes (OpenSSL EVP, GIL released).",
    .m_size = -1,
    .m_methods = methods,
};

#ifdef TEACLAVE_STATIC_OPENSSL
#define STATIC_OPENSSL 1
#else
#define STATIC_OPENSSL 0
#endif

PyMODINIT_FUNC PyInit__pfs_nodes(void)
{
#ifdef TEACLAVE_STATIC_OPENSSL
    if (!OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL)) {
        PyErr_SetString(PyExc_ImportError, "the bundled OpenSSL failed to initialise");
        return NULL;
    }
#endif
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "STATIC_OPENSSL", STATIC_OPENSSL) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
