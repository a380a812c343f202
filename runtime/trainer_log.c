/* trainer_log.c — the history of a training run as files: --log, a CSV
 * with a header, one "epoch" row per epoch and one "step" row every
 * --log-every steps (empty fields where there is no value), and --plot, an
 * SVG drawn here: the loss panel (train against validation) and, when the
 * data is scored by an accuracy, the accuracy panel, each with axes, ticks
 * and a legend. Both are rewritten whole (atomic_file.h) after every epoch,
 * so a run that stops keeps what it had.
 */
#define _POSIX_C_SOURCE 200809L

#include "trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- text ------------------------------------------------------------------ */

/* Room for n more characters and a NUL in b; 0 (and b->oom) if none. */
static int grow(tbuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 4096;
    char *ns;
    if (b->oom || n > SIZE_MAX / 4 || b->len > SIZE_MAX / 4)
        return 0;
    while (cap - b->len <= n)
        cap *= 2;
    if (cap != b->cap) {
        if (!(ns = realloc(b->s, cap)))
            return 0;
        b->s = ns;
        b->cap = cap;
    }
    return 1;
}

void nnrti_tr_bprintf(tbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n)) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- the CSV ------------------------------------------------------------------ */

void nnrti_tr_log_header(ctx *c)
{
    nnrti_tr_bprintf(&c->w.csv, "kind,step,epoch,lr,train_loss,train_acc,val_loss,val_acc,grad_norm,examples_per_s\n");
}

/* ",v" with 9 significant digits, or "," when v is NaN. */
static void field(tbuf *b, double v)
{
    if (isnan(v))
        nnrti_tr_bprintf(b, ",");
    else
        nnrti_tr_bprintf(b, ",%.9g", v);
}

/* One row; grad_norm is empty for a model that cannot say (CUDA). */
void nnrti_tr_log_row(ctx *c, const char *kind, const epoch_rec *r)
{
    tbuf *b = &c->w.csv;
    nnrti_tr_bprintf(b, "%s,%lld,%ld", kind, (long long)r->step, r->epoch);
    field(b, r->lr);
    field(b, r->train_loss);
    field(b, r->train_acc);
    field(b, r->val_loss);
    field(b, r->val_acc);
    field(b, r->grad_norm);
    field(b, r->ex_per_s);
    nnrti_tr_bprintf(b, "\n");
}

/* ---- the SVG ------------------------------------------------------------------ */

#define PANEL_W 460 /* one panel: the plot area and its margins */
#define PANEL_H 320
#define PLOT_LEFT 64 /* margins of the plot area inside a panel */
#define PLOT_RIGHT 16
#define PLOT_TOP 36
#define PLOT_BOTTOM 48

enum { F_TRAIN_LOSS, F_VAL_LOSS, F_TRAIN_ACC, F_VAL_ACC };

typedef struct axis {
    double lo, hi, step; /* the range and the distance between ticks */
} axis;

/* A plot area in SVG pixels and its axes. */
typedef struct panel {
    double x0, y0, w, h;
    axis ax, ay;
} panel;

/* Field f of r (accuracies in percent); NaN when absent. */
static double value(const epoch_rec *r, int f)
{
    switch (f) {
    case F_TRAIN_LOSS: return r->train_loss;
    case F_VAL_LOSS: return r->val_loss;
    case F_TRAIN_ACC: return 100.0 * r->train_acc;
    default: return 100.0 * r->val_acc;
    }
}

/* Ticks 1, 2 or 5 times a power of ten, about n of them over the range,
 * which is widened to whole ticks (and to at least one tick). */
static void make_axis(axis *a, double mn, double mx, int n, int integer)
{
    double raw, p, f;
    if (!(mx > mn)) {
        double pad = fabs(mn) > 0 ? fabs(mn) * 0.1 : 1.0;
        mn -= pad;
        mx += pad;
    }
    raw = (mx - mn) / n;
    p = pow(10.0, floor(log10(raw)));
    f = raw / p;
    a->step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    if (integer && a->step < 1)
        a->step = 1;
    a->lo = floor(mn / a->step) * a->step;
    a->hi = ceil(mx / a->step) * a->step;
    if (a->hi <= a->lo)
        a->hi = a->lo + a->step;
}

static double px(const panel *p, double x)
{
    return p->x0 + (x - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->w;
}

static double py(const panel *p, double y)
{
    return p->y0 + p->h - (y - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->h;
}

/* Tick k of an axis (0 exactly where it should be). */
static double tick(const axis *a, int k)
{
    double v = a->lo + k * a->step;
    return fabs(v) < a->step * 1e-9 ? 0.0 : v;
}

/* The frame, the ticks with their labels and grid lines, the title. */
static void svg_axes(tbuf *b, const panel *p, const char *title, const char *ylabel)
{
    int k;
    nnrti_tr_bprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#000\"/>\n",
                     p->x0, p->y0, p->w, p->h);
    for (k = 0; tick(&p->ax, k) <= p->ax.hi + p->ax.step * 1e-6; k++) {
        double x = px(p, tick(&p->ax, k));
        nnrti_tr_bprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", x,
                         p->y0 + p->h, x, p->y0 + p->h + 5);
        nnrti_tr_bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x, p->y0 + p->h + 18,
                         tick(&p->ax, k));
    }
    for (k = 0; tick(&p->ay, k) <= p->ay.hi + p->ay.step * 1e-6; k++) {
        double y = py(p, tick(&p->ay, k));
        nnrti_tr_bprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", p->x0, y,
                         p->x0 + p->w, y);
        nnrti_tr_bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->x0 - 6, y + 4,
                         tick(&p->ay, k));
    }
    nnrti_tr_bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">%s</text>\n",
                     p->x0 + p->w / 2, p->y0 - 14, title);
    nnrti_tr_bprintf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n", p->x0 + p->w / 2,
                     p->y0 + p->h + 38);
    nnrti_tr_bprintf(b, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
                     p->x0 - 48, p->y0 + p->h / 2, ylabel);
}

/* Field f over the epochs as a polyline (points with a value) and dots. */
static void svg_series(tbuf *b, const panel *p, const watch *w, int f, const char *color)
{
    long k;
    nnrti_tr_bprintf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (k = 0; k < w->n_ep; k++)
        if (!isnan(value(&w->ep[k], f)))
            nnrti_tr_bprintf(b, "%s%.1f,%.1f", k ? " " : "", px(p, (double)w->ep[k].epoch),
                             py(p, value(&w->ep[k], f)));
    nnrti_tr_bprintf(b, "\"/>\n");
    for (k = 0; k < w->n_ep && w->n_ep <= 200; k++)
        if (!isnan(value(&w->ep[k], f)))
            nnrti_tr_bprintf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                             px(p, (double)w->ep[k].epoch), py(p, value(&w->ep[k], f)), color);
}

/* Legend entry i (0 train, 1 validation) in the top right corner, or the
 * bottom right one (where rising curves leave room). */
static void svg_legend(tbuf *b, const panel *p, int i, int bottom, const char *color, const char *label)
{
    double x = p->x0 + p->w - 110, y = bottom ? p->y0 + p->h - 30 + 18 * i : p->y0 + 16 + 18 * i;
    nnrti_tr_bprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", x,
                     y - 4, x + 24, y - 4, color);
    nnrti_tr_bprintf(b, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 30, y, label);
}

/* The range of fields f and f + 1 over the epochs; 0 when none has a value. */
static int range2(const watch *w, int f, double *mn, double *mx)
{
    long k;
    int j, n = 0;
    for (k = 0; k < w->n_ep; k++)
        for (j = f; j <= f + 1; j++) {
            double v = value(&w->ep[k], j);
            if (isnan(v) || isinf(v))
                continue;
            *mn = n == 0 || v < *mn ? v : *mn;
            *mx = n == 0 || v > *mx ? v : *mx;
            n++;
        }
    return n;
}

/* One panel at x offset left: fields f (train) and f + 1 (validation). */
static void svg_panel(tbuf *b, const watch *w, double left, int f, const char *title, const char *ylabel)
{
    panel p;
    double mn = 0, mx = 0;
    range2(w, f, &mn, &mx);
    p.x0 = left + PLOT_LEFT;
    p.y0 = PLOT_TOP;
    p.w = PANEL_W - PLOT_LEFT - PLOT_RIGHT;
    p.h = PANEL_H - PLOT_TOP - PLOT_BOTTOM;
    make_axis(&p.ax, (double)w->ep[0].epoch, (double)w->ep[w->n_ep - 1].epoch, 6, 1);
    make_axis(&p.ay, mn, mx, 5, 0);
    svg_axes(b, &p, title, ylabel);
    svg_series(b, &p, w, f, "#1f77b4");
    svg_series(b, &p, w, f + 1, "#ff7f0e");
    svg_legend(b, &p, 0, f == F_TRAIN_ACC, "#1f77b4", "train");
    svg_legend(b, &p, 1, f == F_TRAIN_ACC, "#ff7f0e", "validation");
}

/* The whole SVG of the history so far (at least one epoch). */
static void svg_plot(const ctx *c, tbuf *b)
{
    double mn, mx;
    int acc = range2(&c->w, F_TRAIN_ACC, &mn, &mx) > 0;
    nnrti_tr_bprintf(b,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                     "font-family=\"sans-serif\" font-size=\"12\">\n"
                     "<title>%s: training curves</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
                     PANEL_W * (acc ? 2 : 1), PANEL_H, PANEL_W * (acc ? 2 : 1), PANEL_H, c->d->name);
    svg_panel(b, &c->w, 0, F_TRAIN_LOSS, "loss", "loss");
    if (acc)
        svg_panel(b, &c->w, PANEL_W, F_TRAIN_ACC, "accuracy", "accuracy (%)");
    nnrti_tr_bprintf(b, "</svg>\n");
}

/* ---- writing -------------------------------------------------------------------- */

/* b as path (safely); a usage-free runtime error otherwise. */
static int write_text(ctx *c, const char *path, const tbuf *b)
{
    if (b->oom)
        return nnrti_tr_fail(c, EXIT_RUNTIME, "%s: out of memory", path);
    return nnrt_write_file(path, b->s ? b->s : "", b->len, &c->err) == NNRT_OK ? 0 : EXIT_RUNTIME;
}

/* Write --log and --plot from the history so far. */
int nnrti_tr_log_write(ctx *c)
{
    tbuf svg;
    int rc = 0;
    if (c->o.raw[O_LOG] && (rc = write_text(c, c->o.raw[O_LOG], &c->w.csv)) != 0)
        return rc;
    if (!c->o.raw[O_PLOT] || c->w.n_ep == 0)
        return 0;
    memset(&svg, 0, sizeof svg);
    svg_plot(c, &svg);
    rc = write_text(c, c->o.raw[O_PLOT], &svg);
    free(svg.s);
    return rc;
}
