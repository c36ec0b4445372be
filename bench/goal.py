"""goal.py: one line per figure, beside its goal and whether it was met.

    goal("reaction p99", 12.3, "ms", "< 20 ms", 12.3 < 20, samples)

prints "GOAL <what> | <figure> | <goal> | met|NOT MET"; bench/run.py
collects these lines into the summary at the end.  A percentile needs
samples: p99 from fewer than 1,000 is not a p99, so pct() answers with
the maximum and says "max of N" instead.
"""
import statistics


def goal(what, figure, goal_text, met):
    print("GOAL %s | %s | %s | %s" % (what, figure, goal_text,
                                      "met" if met else "NOT MET"), flush=True)


def p99(xs):
    """(value, label): the p99 from >= 1,000 samples, else the max."""
    xs = sorted(xs)
    if len(xs) >= 1000:
        return xs[int(len(xs) * 0.99) - 1], "p99 of %d" % len(xs)
    return xs[-1], "max of %d" % len(xs)


def median(xs):
    return statistics.median(xs)
