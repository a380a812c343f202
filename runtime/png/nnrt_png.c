/* nnrt_png.c — grayscale PNG files through libpng (nnrt_png.h): libpng
 * encodes into a callback that appends to an atomic file (atomic_file.h),
 * so a failure leaves no partial PNG behind. */
#include "nnrt_png.h"

#include "atomic_file.h"
#include "nnrt_internal.h"

#include <png.h>
#include <stdlib.h>

/* libpng's output callback: append to the atomic file (errors are sticky
 * there and reported at commit). */
static void put_bytes(png_structp png, png_bytep data, size_t n)
{
    nnrt_afile_write((nnrt_afile *)png_get_io_ptr(png), data, n);
}

static void flush_nothing(png_structp png)
{
    (void)png;
}

/* libpng's error callback: keep the message, then unwind to the setjmp. */
static void on_error(png_structp png, png_const_charp msg)
{
    nnrt_err *err = (nnrt_err *)png_get_error_ptr(png);
    nnrti_fail(err, NNRT_ERR_IO, "libpng: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Encode the image into w; 0 on success, -1 after a libpng error. */
static int encode(png_structp png, png_infop info, nnrt_afile *w, png_bytepp rows, int64_t width, int64_t height)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_write_fn(png, w, put_bytes, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    return 0;
}

/* Encode pix into the opened file w; the libpng message in err on failure. */
static int encode_rows(nnrt_afile *w, const unsigned char *pix, int64_t width, int64_t height, nnrt_err *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytepp rows = (png_bytepp)malloc((size_t)height * sizeof *rows);
    int64_t r;
    int rc = NNRT_ERR_NOMEM;
    if (png && info && rows) {
        for (r = 0; r < height; r++)
            rows[r] = (png_bytep)(pix + (size_t)(r * width));
        rc = encode(png, info, w, rows, width, height) == 0 ? NNRT_OK : NNRT_ERR_IO;
    }
    if (rc == NNRT_ERR_NOMEM)
        nnrti_fail(err, rc, "%s: out of memory for the PNG encoder", w->path);
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    free(rows);
    return rc;
}

int nnrt_png_write_gray(const char *path, const unsigned char *pix, int64_t w, int64_t h, nnrt_err *err)
{
    nnrt_afile f;
    int rc;
    if (!path || !pix)
        return nnrti_fail(err, NNRT_ERR_ARG, "nnrt_png_write_gray: NULL %s", path ? "pixels" : "path");
    if (w < 1 || h < 1 || w > 0x7fffffff || h > 0x7fffffff)
        return nnrti_fail(err, NNRT_ERR_ARG, "%s: a PNG cannot be %lldx%lld pixels", path, (long long)w,
                          (long long)h);
    if ((rc = nnrt_afile_open(&f, path, err)) != NNRT_OK)
        return rc;
    if ((rc = encode_rows(&f, pix, w, h, err)) != NNRT_OK) {
        nnrt_afile_abort(&f);
        return rc;
    }
    return nnrt_afile_commit(&f, err);
}
