"""Callgrind's client requests from Python, and its dumps read back by function name.

CPython 3.12+ calls every Python function through a small trampoline of its own when
``sys.activate_stack_trampoline("perf")`` is on, and writes ``/tmp/perf-<pid>.map``: the
trampoline's address, then ``py::<qualname>:<file>``. Callgrind sees each trampoline as an
unnamed function at that address, so a dump's ``0x...`` functions are renamed from the map
before inclusive costs are summed: Python functions appear by qualified name next to C ones.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import sysconfig
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HELPER_C = """\
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""
HEADER = Path("/usr/include/valgrind/callgrind.h")


class CallgrindUnavailable(RuntimeError):
    """valgrind, its callgrind.h or gcc is missing."""


def missing_tools() -> str | None:
    """Why the cost bench cannot run here, or None."""
    for tool in ("valgrind", "gcc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs it: apt-get install {tool})"
    if not HEADER.exists():
        return f"{HEADER} is missing (Debian's valgrind package ships it)"
    return None


def helper_library(cache: Path) -> Path:
    """The compiled helper, cached by the hash of its source."""
    digest = hashlib.sha256(HELPER_C.encode()).hexdigest()[:12]
    library = cache / f"cg_helper_{digest}.so"
    if library.exists():
        return library
    if problem := missing_tools():
        raise CallgrindUnavailable(problem)
    cache.mkdir(parents=True, exist_ok=True)
    source = cache / f"cg_helper_{digest}.c"
    source.write_text(HELPER_C)
    partial = library.with_suffix(".so.partial")
    built = subprocess.run(  # noqa: S603 - our own argv
        ["gcc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(source)],  # noqa: S607
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if built.returncode != 0:
        raise CallgrindUnavailable(f"gcc could not build the helper:\n{built.stderr[-2000:]}")
    partial.replace(library)
    return library


class Client:
    """The client requests; outside valgrind each is a few no-op instructions."""

    def __init__(self, library: Path) -> None:
        self._lib = ctypes.CDLL(str(library))
        self._lib.cg_dump.argtypes = [ctypes.c_char_p]

    def start(self) -> None:
        self._lib.cg_start()

    def toggle(self) -> None:
        self._lib.cg_toggle()

    def zero(self) -> None:
        self._lib.cg_zero()

    def dump(self, name: str) -> None:
        self._lib.cg_dump(name.encode())


# Reading dumps -----------------------------------------------------------------------------

_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")
_RECURSION = re.compile(r"'\d+$")
_PREFIXES = sorted(
    {
        str(Path(p)) + "/"
        for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"])
    },
    key=len,
    reverse=True,
)


def perf_map(path: Path, root: Path) -> dict[int, str]:
    """Trampoline address -> ``qualname (file)``, files relative to the repository, the
    site-packages or the standard library, so names do not depend on where those live."""
    names: dict[int, str] = {}
    if not path.exists():
        return names
    for line in path.read_text().splitlines():
        address, _, rest = line.partition(" ")
        _, _, symbol = rest.partition(" ")
        if not symbol.startswith("py::"):
            continue
        qualname, _, filename = symbol[4:].partition(":")
        names[int(address, 16)] = f"{qualname} ({short_path(filename, root)})"
    return names


def short_path(filename: str, root: Path) -> str:
    prefixes = [str(root) + "/", *_PREFIXES]
    for prefix in prefixes:
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    return filename


@dataclass
class Profile:
    """One dump: its total instructions and each function's inclusive instructions."""

    total: int = 0
    inclusive: dict[str, int] = field(default_factory=dict)

    def top(
        self, count: int, exclude: tuple[str, ...] = (), below: float = 1.0
    ) -> list[tuple[str, int]]:
        """The ``count`` named functions with the most inclusive instructions, leaving out
        those ``exclude`` starts and those above ``below`` of the total (the handler,
        the middleware chain and the interpreter's call machinery every request passes
        through: they only repeat the total)."""
        ceiling = self.total * below
        ranked = sorted(
            (
                (name, cost)
                for name, cost in self.inclusive.items()
                if cost <= ceiling and not name.startswith(("0x", *exclude))
            ),
            key=lambda item: (-item[1], item[0]),
        )
        return ranked[:count]


def parse(path: Path, names: dict[int, str]) -> Profile:
    """Inclusive instructions per function of one callgrind dump (``--dump-instr=no``).

    A call line to a function's first recursion level (callgrind names deeper ones
    ``name'2``: the function is active further up the stack) carries the instructions
    spent while it was on the stack, once; so a function's inclusive cost is the sum of
    the calls to its first level, and recursion counts nothing twice.
    """
    ids: dict[str, dict[str, str]] = defaultdict(dict)
    profile = Profile()
    inclusive: dict[str, int] = defaultdict(int)
    pending_call: str | None = None
    caller = ""

    def resolve(kind: str, value: str) -> str:
        match = _NAMED.match(value)
        if match is None:
            return value
        key, name = match.groups()
        if name is not None:
            ids[kind][key] = name
            return name
        return ids[kind].get(key, value)

    def rename(raw: str) -> str:
        base = _RECURSION.sub("", raw)
        if base.startswith("0x"):
            named = names.get(int(base, 16))
            if named is not None:
                return named + raw[len(base) :]
        return raw

    callee = ""
    with path.open() as lines:
        for line in lines:
            if not line or line[0] in "#\n":
                continue
            if line.startswith(("totals:", "summary:")):
                profile.total = profile.total or int(line.split()[1])
                continue
            if line[0].isdigit() or line[0] in "+-*":
                if pending_call is not None:
                    fields = line.split()
                    if len(fields) > 1 and pending_call != caller:
                        inclusive[pending_call] += int(fields[1])
                    pending_call = None
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key == "fn":
                caller = rename(resolve("fn", value))
            elif key == "cfn":
                callee = rename(resolve("fn", value))
            elif key == "calls":
                # A deeper recursion level's cost is inside its first level's already.
                pending_call = None if _RECURSION.search(callee) else callee
            elif key in ("ob", "cob"):
                resolve("ob", value)
            elif key in ("fl", "fi", "fe", "cfi", "cfl"):
                resolve("fl", value)
    profile.inclusive = dict(inclusive)
    return profile
