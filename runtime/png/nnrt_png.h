/* nnrt_png.h — PNG output for libnnrt, kept out of libnnrt.a so that libnnrt
 * needs no libpng: nnrt_png.c is built alone as build/nnrt_png.o (make, where
 * libpng is found) and linked as an object beside libnnrt.a with -lpng:
 *
 *   cc -Iruntime model.c build/nnrt_png.o build/libnnrt.a -lpng -lm
 *
 * The trainer (nnrt_main) refers to nnrt_png_write_gray weakly: linked with
 * the object, `reconstruct --out GRID.png` writes a PNG; without it, it says
 * how to link it (and .pgm works either way).
 *
 *   nnrt_png.h  this file
 *   nnrt_png.c  the writer, on Debian's libpng (libpng-dev)
 */
#ifndef NNRT_PNG_H
#define NNRT_PNG_H

#include "nnrt.h"

#include <stdint.h>

/* An 8-bit grayscale PNG of w x h pixels (pix, row-major, w * h bytes),
 * saved safely like every libnnrt output (runtime/atomic_file.h): a
 * temporary beside path, renamed over it. NNRT_OK, NNRT_ERR_ARG for a size
 * PNG cannot hold (0 or over 2^31 - 1 per side), NNRT_ERR_IO with a message
 * naming path otherwise. */
int nnrt_png_write_gray(const char *path, const unsigned char *pix, int64_t w, int64_t h, nnrt_err *err);

#endif /* NNRT_PNG_H */
