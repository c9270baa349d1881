"""Every test has a timeout: a test that hangs dumps its threads' stacks
and ends the run (faulthandler), instead of blocking CI."""
import faulthandler
import multiprocessing
import os
import sys

import pytest

TEST_TIMEOUT_S = int(os.environ.get("SS_PY_TEST_TIMEOUT", "120"))
# pytest captures fd 2 during a test: the dump goes to the real one.
_STDERR = os.fdopen(os.dup(2), "w")


@pytest.fixture(autouse=True)
def _timeout():
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S, exit=True,
                                      file=_STDERR)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def fork_ctx():
    return multiprocessing.get_context("fork")


@pytest.fixture(params=["fork", "spawn", "forkserver"])
def mp_ctx(request):
    """Each of multiprocessing's start methods on Linux."""
    return multiprocessing.get_context(request.param)


def pytest_configure(config):
    # The seed's default on Linux with Python 3.11: fork.
    if sys.platform.startswith("linux"):
        try:
            multiprocessing.set_start_method("fork")
        except RuntimeError:
            pass
