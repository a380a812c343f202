/* test_files.c — CUnit tests of libnnrt's file handling (issue 10): safe
 * saving (runtime/atomic_file.h: temporaries, devices, pipes, links,
 * concurrent writers, failed writes), bounded reading (streams, /dev/zero,
 * directories, caps) and the finiteness check of weights
 * (nnrt_st_check_finite), plus the trainer's refusal to save non-finite
 * weights (a fake model). Temporary files go under a mkdtemp directory.
 */
#define _POSIX_C_SOURCE 200809L

#include <CUnit/Basic.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "nnrt.h"
#include "tmpdir.h"

/* ---- helpers -------------------------------------------------------------- */

static int same_file(const char *path, const void *want, size_t n)
{
    size_t len = 0;
    unsigned char *b = slurp(path, &len);
    int ok = b && len == n && memcmp(b, want, n) == 0;
    free(b);
    return ok;
}

/* A child that writes data[0..n) into the FIFO at path and exits. */
static pid_t fifo_writer(const char *path, const void *data, size_t n)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY);
        const unsigned char *p = data;
        while (fd >= 0 && n > 0) {
            ssize_t k = write(fd, p, n);
            if (k <= 0)
                break;
            p += k;
            n -= (size_t)k;
        }
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    if (pid > 0)
        waitpid(pid, &st, 0);
}

/* Three small tensors (17 floats). */
static void model_infos(nnrt_tensor_info t[3])
{
    static const nnrt_tensor_info m[3] = {
        {"fc1.weight", NNRT_F32, 2, {3, 4}, 0, 12},
        {"fc1.bias", NNRT_F32, 1, {4}, 12, 4},
        {"scale", NNRT_F32, 0, {0}, 16, 1},
    };
    memcpy(t, m, sizeof m);
}

/* ---- safe saving ------------------------------------------------------------ */

static void test_save_regular(void)
{
    nnrt_err err;
    struct stat st;
    const char *p = tp("plain.txt");
    CU_ASSERT_EQUAL(nnrt_write_file(p, "one", 3, &err), NNRT_OK);
    CU_ASSERT(same_file(p, "one", 3));
    /* the mode of the file it replaces is kept */
    CU_ASSERT_FATAL(chmod(p, 0640) == 0);
    CU_ASSERT_EQUAL(nnrt_write_file(p, "two!", 4, &err), NNRT_OK);
    CU_ASSERT(same_file(p, "two!", 4));
    CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640);
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
    /* a link to a regular file: the file is replaced, the link stays */
    CU_ASSERT_FATAL(symlink(p, tp("link.txt")) == 0);
    CU_ASSERT_EQUAL(nnrt_write_file(tp("link.txt"), "three", 5, &err), NNRT_OK);
    CU_ASSERT(same_file(p, "three", 5));
    CU_ASSERT(lstat(tp("link.txt"), &st) == 0 && S_ISLNK(st.st_mode));
    /* a dangling link is refused, not followed */
    CU_ASSERT_FATAL(symlink(tp("nowhere/x"), tp("dangling")) == 0);
    CU_ASSERT_EQUAL(nnrt_write_file(tp("dangling"), "x", 1, &err), NNRT_ERR_IO);
    CU_ASSERT(contains(err.msg, "dangling: symbolic link"));
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
}

static void test_save_direct(void)
{
    nnrt_err err;
    struct stat st;
    char buf[16] = {0};
    const char *fifo = tp("fifo");
    int rd, o1, f1;
    /* a pipe is written into and stays a pipe */
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    rd = open(fifo, O_RDONLY | O_NONBLOCK);
    CU_ASSERT_FATAL(rd >= 0);
    CU_ASSERT_EQUAL(nnrt_write_file(fifo, "hello", 5, &err), NNRT_OK);
    CU_ASSERT_EQUAL(read(rd, buf, sizeof buf), 5);
    CU_ASSERT_STRING_EQUAL(buf, "hello");
    close(rd);
    CU_ASSERT(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CU_ASSERT(nnrt_afile_is_direct(fifo));
    /* a link to a device: written through, neither replaced */
    CU_ASSERT_FATAL(symlink("/dev/null", tp("devnull")) == 0);
    CU_ASSERT_EQUAL(nnrt_write_file(tp("devnull"), "gone", 4, &err), NNRT_OK);
    CU_ASSERT(lstat(tp("devnull"), &st) == 0 && S_ISLNK(st.st_mode));
    CU_ASSERT(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    /* "-" is standard output */
    fflush(stdout);
    o1 = dup(1);
    f1 = open(tp("stdout.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(o1 >= 0 && f1 >= 0);
    dup2(f1, 1);
    CU_ASSERT_EQUAL(nnrt_write_file("-", "to stdout", 9, &err), NNRT_OK);
    dup2(o1, 1);
    close(o1);
    close(f1);
    CU_ASSERT(same_file(tp("stdout.txt"), "to stdout", 9));
    CU_ASSERT(nnrt_afile_is_direct("-"));
    CU_ASSERT_FALSE(nnrt_afile_is_direct(tp("stdout.txt")));
    /* a directory is an error */
    CU_ASSERT_EQUAL(nnrt_write_file(g_dir, "x", 1, &err), NNRT_ERR_IO);
    CU_ASSERT(contains(err.msg, "is a directory"));
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
}

/* A write that fails midway (the file size limit) leaves the target as it
 * was and no temporary. Runs in a child: the limit is per process. */
static void test_save_failed_write(void)
{
    static char big[200000];
    const char *p = tp("limited.bin");
    pid_t pid;
    int st = -1;
    CU_ASSERT_FATAL(write_file(p, "old", 3));
    memset(big, 'x', sizeof big);
    pid = fork();
    if (pid == 0) {
        struct rlimit rl = {100000, 100000};
        nnrt_err err;
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        _exit(nnrt_write_file(p, big, sizeof big, &err) == NNRT_ERR_IO && contains(err.msg, "write failed") ? 0
                                                                                                           : 1);
    }
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT(same_file(p, "old", 3));
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
}

/* Two processes writing one name 40 times each: the file is always one
 * complete version. */
static void test_save_concurrent(void)
{
    static unsigned char a[300000], b[300000];
    const char *p = tp("shared.bin");
    pid_t kids[2];
    int k, round;
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    for (round = 0; round < 3; round++) {
        for (k = 0; k < 2; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                nnrt_err err;
                int i, bad = 0;
                for (i = 0; i < 40; i++)
                    bad |= nnrt_write_file(p, k ? b : a, sizeof a, &err) != NNRT_OK;
                _exit(bad);
            }
        }
        reap(kids[0]);
        reap(kids[1]);
        CU_ASSERT(same_file(p, a, sizeof a) || same_file(p, b, sizeof b));
    }
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
}

static void test_check_save_target(void)
{
    nnrt_err err;
    char *scratch = NULL;
    CU_ASSERT_EQUAL(nnrt_check_save_target(tp("new.safetensors"), &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_check_save_target("-", &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_check_save_target(g_dir, &err), NNRT_ERR_IO);
    CU_ASSERT(contains(err.msg, "is a directory, not a file"));
    CU_ASSERT_EQUAL(nnrt_check_save_target(tp("no/such/w.safetensors"), &err), NNRT_ERR_IO);
    CU_ASSERT(contains(err.msg, "cannot create a file in directory"));
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
    CU_ASSERT_EQUAL(access(tp("new.safetensors"), F_OK), -1);
    /* a scratch file beside the target, placed over it */
    CU_ASSERT_EQUAL_FATAL(nnrt_afile_scratch(tp("placed.txt"), &scratch, &err), NNRT_OK);
    CU_ASSERT(contains(scratch, "/.placed.txt.nnrt-tmp."));
    CU_ASSERT(write_file(scratch, "data", 4));
    CU_ASSERT_EQUAL(nnrt_afile_place(scratch, tp("placed.txt"), &err), NNRT_OK);
    CU_ASSERT(same_file(tp("placed.txt"), "data", 4));
    free(scratch);
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
}

/* ---- bounded reading ----------------------------------------------------------- */

static void test_read_devices_and_dirs(void)
{
    nnrt_tensor_info t[3];
    nnrt_dataset ds;
    nnrt_idx idx;
    nnrt_st_file *f = NULL;
    nnrt_err err;
    float w[17];
    model_infos(t);
    CU_ASSERT_EQUAL(nnrt_st_load("/dev/zero", t, 3, w, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "/dev/zero: header length 0 is invalid"));
    CU_ASSERT_EQUAL(nnrt_st_open("/dev/zero", &f, &err), NNRT_ERR_FORMAT);
    CU_ASSERT_EQUAL(nnrt_st_check_finite("/dev/zero", &err), NNRT_ERR_FORMAT);
    CU_ASSERT_EQUAL(nnrt_load_csv("/dev/zero", 3, 1, NNRT_I32, 10, 1.0f, &ds, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "/dev/zero: line 1, byte 1 of it: a NUL byte, not text"));
    CU_ASSERT_EQUAL(nnrt_idx_read("/dev/zero", &idx, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "unsupported IDX element type 0x00"));
    CU_ASSERT_EQUAL(nnrt_load_idx("/dev/zero", NULL, &ds, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "bad magic 0x00000000, expected 0x00000803"));
    CU_ASSERT_EQUAL(nnrt_st_load(g_dir, t, 3, w, &err), NNRT_ERR_IO);
    CU_ASSERT(contains(err.msg, "is a directory"));
    CU_ASSERT_EQUAL(nnrt_load_csv(g_dir, 3, 1, NNRT_I32, 10, 1.0f, &ds, &err), NNRT_ERR_IO);
    CU_ASSERT(contains(err.msg, "is a directory"));
}

/* IDX and safetensors through a pipe: headers first, exact lengths, only the
 * needed tensors of a load; trailing bytes are an error. */
static void test_read_streams(void)
{
    nnrt_tensor_info t[3], one;
    nnrt_err err;
    nnrt_idx idx;
    float w[17], r[17];
    unsigned char *raw, img[4 + 12 + 6];
    size_t len, k;
    const char *fifo = tp("stream"), *p = tp("stream.safetensors");
    pid_t pid;
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    model_infos(t);
    for (k = 0; k < 17; k++)
        w[k] = (float)k + 0.5f;
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    raw = slurp(p, &len);
    CU_ASSERT_FATAL(raw != NULL);
    pid = fifo_writer(fifo, raw, len);
    memset(r, 0, sizeof r);
    CU_ASSERT_EQUAL(nnrt_st_load(fifo, t, 3, r, &err), NNRT_OK);
    CU_ASSERT_EQUAL(memcmp(w, r, sizeof w), 0);
    reap(pid);
    /* one tensor from the middle: the others are skipped on the stream */
    one = t[1];
    one.offset = 0;
    pid = fifo_writer(fifo, raw, len);
    memset(r, 0, sizeof r);
    CU_ASSERT_EQUAL(nnrt_st_load(fifo, &one, 1, r, &err), NNRT_OK);
    CU_ASSERT(r[0] == 12.5f && r[3] == 15.5f);
    reap(pid);
    /* one byte short, then two too many */
    pid = fifo_writer(fifo, raw, len - 1);
    CU_ASSERT_EQUAL(nnrt_st_check_finite(fifo, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "truncated"));
    reap(pid);
    {
        nnrt_st_file *f = NULL;
        unsigned char *more = malloc(len + 2);
        CU_ASSERT_FATAL(more != NULL);
        memcpy(more, raw, len);
        more[len] = more[len + 1] = 'z';
        pid = fifo_writer(fifo, more, len + 2);
        CU_ASSERT_EQUAL(nnrt_st_open(fifo, &f, &err), NNRT_ERR_FORMAT);
        CU_ASSERT(contains(err.msg, "more bytes than its header describes"));
        reap(pid);
        free(more);
    }
    free(raw);
    /* an IDX stream: 1x3x2 u8 */
    memcpy(img, "\0\0\x08\x03\0\0\0\x01\0\0\0\x03\0\0\0\x02" "abcdef", sizeof img);
    pid = fifo_writer(fifo, img, sizeof img);
    CU_ASSERT_EQUAL(nnrt_idx_read(fifo, &idx, &err), NNRT_OK);
    CU_ASSERT(idx.numel == 6 && memcmp(idx.data, "abcdef", 6) == 0);
    nnrt_idx_free(&idx);
    reap(pid);
    pid = fifo_writer(fifo, img, sizeof img - 1);
    CU_ASSERT_EQUAL(nnrt_idx_read(fifo, &idx, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "truncated: the IDX data needs 6 bytes"));
    reap(pid);
    {
        unsigned char more[sizeof img + 2];
        memcpy(more, img, sizeof img);
        more[sizeof img] = more[sizeof img + 1] = 'z';
        pid = fifo_writer(fifo, more, sizeof more);
        CU_ASSERT_EQUAL(nnrt_idx_read(fifo, &idx, &err), NNRT_ERR_FORMAT);
        CU_ASSERT(contains(err.msg, "unexpected bytes after the IDX data"));
        reap(pid);
    }
}

/* More tensors than ST_MAX_TENSORS (2^20): refused while parsing. */
static void test_tensor_count_cap(void)
{
    const char *p = tp("many.safetensors");
    size_t n = ((size_t)1 << 20) + 1, k, used = 1;
    char *h = malloc(n * 64 + 16);
    unsigned char len8[8];
    nnrt_st_file *f = NULL;
    nnrt_err err;
    FILE *out;
    CU_ASSERT_FATAL(h != NULL);
    h[0] = '{';
    for (k = 0; k < n; k++)
        used += (size_t)sprintf(h + used, "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                                k ? "," : "", k);
    h[used++] = '}';
    for (k = 0; k < 8; k++)
        len8[k] = (unsigned char)((uint64_t)used >> (8 * k));
    out = fopen(p, "wb");
    CU_ASSERT_FATAL(out != NULL);
    fwrite(len8, 1, 8, out);
    fwrite(h, 1, used, out);
    fclose(out);
    free(h);
    CU_ASSERT_EQUAL(nnrt_st_open(p, &f, &err), NNRT_ERR_FORMAT);
    CU_ASSERT(contains(err.msg, "more than 1048576 tensors"));
    unlink(p);
}

/* ---- non-finite values ------------------------------------------------------------- */

static void test_check_finite(void)
{
    nnrt_tensor_info t[3], d;
    nnrt_err err;
    float w[17];
    double v[3] = {1.0, 2.0, -HUGE_VAL};
    const char *p = tp("fin.safetensors");
    size_t k;
    model_infos(t);
    for (k = 0; k < 17; k++)
        w[k] = (float)k;
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_check_finite(p, &err), NNRT_OK);
    w[14] = NAN;
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_check_finite(p, &err), NNRT_ERR_RANGE);
    CU_ASSERT(contains(err.msg, "fin.safetensors: tensor 'fc1.bias' holds NaN at flat index 2 (of 4 values)"));
    /* NaN loads as it is: the check is the caller's (the trainer's) */
    CU_ASSERT_EQUAL(nnrt_st_load(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT(isnan(w[14]));
    w[14] = 0;
    w[16] = HUGE_VALF;
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, t, 3, w, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_check_finite(p, &err), NNRT_ERR_RANGE);
    CU_ASSERT(contains(err.msg, "tensor 'scale' holds inf at flat index 0 (of 1 values)"));
    memset(&d, 0, sizeof d);
    d.name = "d";
    d.dtype = NNRT_F64;
    d.rank = 1;
    d.shape[0] = 3;
    d.numel = 3;
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(p, &d, 1, v, &err), NNRT_OK);
    CU_ASSERT_EQUAL(nnrt_st_check_finite(p, &err), NNRT_ERR_RANGE);
    CU_ASSERT(contains(err.msg, "tensor 'd' holds -inf at flat index 2 (of 3 values)"));
}

/* ---- the trainer: non-finite weights are never saved ---------------------------------- */

/* A fake model: out = w * x for one f32 value; train_step leaves w NaN
 * after step 2 while the loss it reports stays finite. */
typedef struct poison {
    float w;
    int steps;
} poison;

static const nnrt_tensor_info pz_param = {"w", NNRT_F32, 1, {1}, 0, 1};

static void *pz_create(uint64_t seed)
{
    poison *m = calloc(1, sizeof *m);
    (void)seed;
    if (m)
        m->w = 0.5f;
    return m;
}
static void pz_destroy(void *m) { free(m); }
static int pz_forward(void *m, const void *x, void *out)
{
    ((float *)out)[0] = ((poison *)m)->w * ((const float *)x)[0];
    return NNRT_OK;
}
static int pz_loss(void *m, const void *x, const void *y, double *loss)
{
    (void)m, (void)x, (void)y;
    *loss = 0.25;
    return NNRT_OK;
}
static int pz_train_step(void *m, const void *x, const void *y, double *loss)
{
    poison *p = m;
    if (++p->steps >= 2)
        p->w = NAN;
    return pz_loss(m, x, y, loss);
}
static int pz_save(void *m, const char *path)
{
    nnrt_err err;
    return nnrt_st_save(path, &pz_param, 1, &((poison *)m)->w, &err);
}
static int pz_load(void *m, const char *path)
{
    nnrt_err err;
    return nnrt_st_load(path, &pz_param, 1, &((poison *)m)->w, &err);
}

static nnrt_model_desc poison_desc(void)
{
    nnrt_model_desc d;
    memset(&d, 0, sizeof d);
    d.name = "poison";
    d.dtype = NNRT_F32;
    d.batch = 1;
    d.x_dtype = NNRT_F32;
    d.x_rank = 1;
    d.x_shape[0] = 1;
    d.x_numel = 1;
    d.has_target = 1;
    d.y_dtype = NNRT_F32;
    d.y_numel = 1;
    d.out_rank = 1;
    d.out_shape[0] = 1;
    d.out_numel = 1;
    d.trainable = 1;
    d.default_lr = 0.1;
    d.create = pz_create;
    d.destroy = pz_destroy;
    d.forward = pz_forward;
    d.loss = pz_loss;
    d.train_step = pz_train_step;
    d.save = pz_save;
    d.load = pz_load;
    return d;
}

static void test_trainer_nonfinite_save(void)
{
    nnrt_model_desc d = poison_desc();
    char data[512], w[512];
    unsigned char *before;
    size_t blen = 0;
    float half = 0.5f;
    nnrt_err err;
    snprintf(data, sizeof data, "%s", tp("pz.csv"));
    snprintf(w, sizeof w, "%s", tp("pz.safetensors"));
    CU_ASSERT_FATAL(write_file(data, "1,1\n2,2\n3,3\n", 12));
    CU_ASSERT_EQUAL_FATAL(nnrt_st_save(w, &pz_param, 1, &half, &err), NNRT_OK);
    before = slurp(w, &blen);
    CU_ASSERT_EQUAL(run_main(&d, "train", "--data", data, "--epochs", "1", "--save", w, NULL), 1);
    CU_ASSERT(contains(g_errs, "after epoch 1: the weights are not finite (tensor 'w' holds NaN at flat index 0 (of 1 "
                             "values)); not saved,"));
    CU_ASSERT(before && same_file(w, before, blen));
    CU_ASSERT_EQUAL(count_temporaries(g_dir), 0);
    /* --allow-nonfinite saves them, and loads them back */
    CU_ASSERT_EQUAL(run_main(&d, "train", "--data", data, "--epochs", "1", "--save", w,
                             "--allow-nonfinite", NULL), 0);
    CU_ASSERT_EQUAL(nnrt_st_check_finite(w, &err), NNRT_ERR_RANGE);
    CU_ASSERT_EQUAL(run_main(&d, "eval", "--data", data, "--load", w, NULL), 1);
    CU_ASSERT(contains(g_errs, "holds NaN at flat index 0 (of 1 values); --load weights must be finite"));
    CU_ASSERT_EQUAL(run_main(&d, "eval", "--data", data, "--load", w, "--allow-nonfinite", NULL),
                    0);
    CU_ASSERT_EQUAL(run_main(&d, "eval", "--data", data, "--load", w, "--allow-nonfinite=1", NULL),
                    2);
    CU_ASSERT(contains(g_errs, "option --allow-nonfinite takes no value"));
    free(before);
}

/* ---- main ------------------------------------------------------------------------------ */

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"save: regular files, modes, links", test_save_regular},
        {"save: pipes, devices, stdout, directories", test_save_direct},
        {"save: a failed write keeps the target", test_save_failed_write},
        {"save: concurrent writers never mix", test_save_concurrent},
        {"save: target checked before work", test_check_save_target},
        {"read: /dev/zero and directories", test_read_devices_and_dirs},
        {"read: streams, headers first, exact lengths", test_read_streams},
        {"read: tensor count cap", test_tensor_count_cap},
        {"finite: NaN, inf, -inf named", test_check_finite},
        {"trainer: NaN weights never replace a file", test_trainer_nonfinite_save},
    };
    CU_pSuite s;
    size_t k;
    unsigned failures;
    strcpy(g_dir, "/tmp/nnrt_files_XXXXXX");
    if (!mkdtemp(g_dir) || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("files", NULL, NULL);
    for (k = 0; s && k < sizeof tests / sizeof tests[0]; k++)
        if (!CU_add_test(s, tests[k].name, tests[k].fn))
            s = NULL;
    if (!s) {
        CU_cleanup_registry();
        rm_rf(g_dir);
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    rm_rf(g_dir);
    return failures ? 1 : 0;
}
