"""Helpers of signal-slot-mp's signal_slot.utils, same names and behaviour."""
import logging


def static_vars(**kwargs):
    """Decorator: give the function the attributes kwargs (C-like statics)."""

    def decorate(func):
        for k, v in kwargs.items():
            setattr(func, k, v)
        return func

    return decorate


@static_vars(counts={})
def log_every_n(logger, n, level, msg, *args, **kwargs):
    """Log msg the first time, then every n-th time (with the count), per
    message string."""
    counts = log_every_n.counts
    c = counts.get(msg, 0) + 1
    counts[msg] = c
    if c == 1:
        logger.log(level, msg, *args, **kwargs)
    elif c % n == 0:
        logger.log(level, f"{msg} ({c} times)", *args, **kwargs)


def debug_log_every_n(logger, n, msg, *args, **kwargs):
    log_every_n(logger, n, logging.DEBUG, msg, *args, **kwargs)


def error_log_every_n(logger, n, msg, *args, **kwargs):
    log_every_n(logger, n, logging.ERROR, msg, *args, **kwargs)
