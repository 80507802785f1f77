"""The statistics kernel in tests: built once per machine (cached like any user's), and
required where a C++ compiler exists."""

from __future__ import annotations

import shutil

import pytest

from tftrace.recording import statistics_kernel


def require_kernel() -> statistics_kernel.KernelLibrary:
    """The kernel library; a failure when it cannot be had although a compiler exists
    (skipped only on a machine without one)."""
    if shutil.which(statistics_kernel.compiler()[0]) is None:
        pytest.skip(f"no C++ compiler ({statistics_kernel.compiler()[0]}): the kernel cannot be built")
    library = statistics_kernel.library()
    assert library.op is not None, library.reason
    return library
