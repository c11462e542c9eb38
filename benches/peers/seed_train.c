/* The seed notebook's training as a plain C loop: 8 rows, SGD lr 0.01,
 * 1000 epochs, loss and gradient written by hand (the "C -O2:
 * 13 us"). Prints the best time of five batches of 1000 trainings, in us.
 * Run by benches/epochs_vs_c.sh, alternately with ddx's side. */
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    static const double xs[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const double ys[8] = {1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37};
    volatile double sink = 0;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t = now();
        for (int k = 0; k < 1000; k++) {
            double pm = 0.9, pb = 0.1, cost = 0;
            for (int e = 0; e < 1000; e++) {
                double c = 0, gm = 0, gb = 0;
                for (int i = 0; i < 8; i++) {
                    double r = pm * xs[i] + pb - ys[i];
                    c += r * r;
                    gm += r * xs[i];
                    gb += r;
                }
                cost += c / 8;
                pm -= 0.01 * (2 * gm / 8);
                pb -= 0.01 * (2 * gb / 8);
            }
            sink += pm + pb + cost;
        }
        double us = (now() - t) / 1000 * 1e6;
        if (us < best) best = us;
    }
    printf("c %.2f\n", best);
    return sink == 1.0;
}
