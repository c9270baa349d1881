"""Helpers of signal-slot-mp's signal_slot.utils, same names and behaviour."""
import logging


def static_vars(**kwargs):
    """Decorator: give the function the attributes kwargs (C-like statics)."""

    def decorate(func):
        for k, v in kwargs.items():
            setattr(func, k, v)
        return func

    return decorate


@static_vars(history={})
def log_every_n(logger, n, level, msg, *args, **kwargs):
    """Log msg the first time, then once every n times (calls 1, n + 1,
    2n + 1...), saying how many times it came before; counted per message
    string."""
    history = log_every_n.history
    times = history.get(msg, 0)
    if times % n == 0:
        text = msg if times == 0 else f"{msg} ({times} times)"
        logger.log(level, text, *args, **kwargs)
    history[msg] = times + 1


def debug_log_every_n(logger, n, msg, *args, **kwargs):
    log_every_n(logger, n, logging.DEBUG, msg, *args, **kwargs)


def error_log_every_n(logger, n, msg, *args, **kwargs):
    log_every_n(logger, n, logging.ERROR, msg, *args, **kwargs)
