/* The seed model's loss and gradient over 10^7 rows as a plain scalar C loop
 * (the reference point: "a scalar C loop at -O2 does 0.89 ns/row").
 * Build and run: gcc -O2 -o /tmp/seed_loop benches/peers/seed_loop.c -lm && /tmp/seed_loop
 * Prints the median seconds of one evaluation, as JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    const long n = 10000000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (long i = 0; i < n; i++) {
        x[i] = (i % 1000) * 0.007;
        y[i] = 1.8 - 0.47 * x[i] + 0.01 * sin(x[i] * 13.0);
    }
    volatile double sink = 0;
    double m = 0.9, b = 0.1, times[15];
    for (int k = 0; k < 15; k++) {
        double t = now();
        double c = 0, gm = 0, gb = 0;
        for (long i = 0; i < n; i++) {
            double r = m * x[i] + b - y[i];
            c += r * r;
            gm += r * x[i];
            gb += r;
        }
        sink += c / n + 2 * gm / n + 2 * gb / n;
        times[k] = now() - t;
    }
    qsort(times, 15, sizeof times[0], cmp);
    printf("{\"c_loop_1e7\": %e}\n", times[7]);
    return sink == 12345.0;
}
