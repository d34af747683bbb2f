"""The machine and date every benchmark prints with its figures."""

from __future__ import annotations

import datetime
import os
import platform


def machine_line() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {today}"
