"""Build the production image (Dockerfile) with podman, on a machine without a registry.

    python3 scripts/build_image.py [--tag localhost/shelfwise] [--rebuild-base]

No base image is pulled: a Debian trixie (Python 3.13; bookworm's 3.11 is too old for
Django 6) is made with `debootstrap --variant=minbase` from the mirror this machine's apt
uses, imported as localhost/debian-trixie-python (kept: later builds reuse it) and handed
to the Dockerfile as BASE_IMAGE. pip in the build reaches the index the way this machine's
pip does: its index settings and CA bundle (a proxy's, say) go in as build secrets, never
into a layer. Needs root and the Debian packages podman, runc and debootstrap.

Then, against a PostgreSQL on this machine (host networking):

    podman run --rm --network=host -e SECRET_KEY=... -e DATABASE_URL=... \\
        localhost/shelfwise python manage.py migrate --no-input
    podman run -d --network=host -e SECRET_KEY=... -e DATABASE_URL=... \\
        -e ALLOWED_HOSTS=127.0.0.1 -e GUNICORN_BIND=127.0.0.1:8000 localhost/shelfwise

with the run flags that `engine()` and `RUN_FLAGS` add (printed by --print-run-flags).
tests/test_image.py builds, runs and probes the image the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "localhost/debian-trixie-python"
TAG = "localhost/shelfwise"
SUITE = "trixie"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# Layers the runtime image need not carry: package caches, docs, translations.
BASE_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
             "usr/share/locale")  # fmt: skip
DEBOOTSTRAP_TIMEOUT_S = 900
BUILD_TIMEOUT_S = 1200
# pip settings that reach an index; paths on this machine (find-links, file:// indexes)
# mean nothing inside the build.
PIP_NETWORK_KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "default-timeout",
                    "proxy", "retries")  # fmt: skip
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class Unavailable(Exception):
    """The image cannot be built here; the message says what is missing."""


def _nofile() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f"{soft}:{hard}"


# podman asks for more open files and processes than a root without CAP_SYS_RESOURCE (a VM
# sandbox, a container) may have: "setrlimit RLIMIT_NOFILE: Operation not permitted". This
# process's own limits and a modest process cap are always allowed. Host networking: the
# build reaches the index, the container the machine's PostgreSQL, with no network plugin.
RUN_FLAGS = ("--network=host", f"--ulimit=nofile={_nofile()}", "--ulimit=nproc=4096:4096")


def engine() -> list[str]:
    """podman, on runc where there is one: crun refuses a cgroup v1/v2 hybrid host
    ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2")."""
    if shutil.which("podman") is None:
        raise Unavailable("podman is missing: apt-get install podman runc")
    if shutil.which("runc"):
        return ["podman", "--runtime", "runc"]
    if Path("/sys/fs/cgroup/unified").is_dir():  # v1 controllers with a v2 hierarchy
        raise Unavailable("crun refuses this host's hybrid cgroups: apt-get install runc")
    return ["podman"]


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (not its security archive)."""
    uris: list[str] = []
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if re.match(r"^[\w-]+:", line)
            )
            if "deb" in fields.get("Types", "").split():
                uris += fields.get("URIs", "").split()
    for path in [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                found = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", line)
                if found:
                    uris.append(found.group(1))
    for uri in uris:
        if uri.rstrip("/").endswith("/debian"):
            return uri
    raise Unavailable(f"no Debian mirror in {sources}/sources.list*: debootstrap needs one")


def _run(argv: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    try:
        # Our own argv; kwargs: stdin, stdout, stderr, capture_output.
        return subprocess.run(argv, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]  # noqa: S603
    except subprocess.TimeoutExpired as error:
        raise Unavailable(f"{shlex.join(argv[:3])} ... took over {timeout:.0f} s") from error


def image_exists(tag: str) -> bool:
    return _run([*engine(), "image", "exists", tag], timeout=60).returncode == 0


def make_base(tag: str = BASE_IMAGE, *, rebuild: bool = False) -> str:
    """A Debian trixie minbase with python (3.13) and venv, imported as ``tag``; an
    existing one is kept unless ``rebuild``."""
    podman = engine()
    if not rebuild and image_exists(tag):
        return tag
    if os.geteuid() != 0:
        raise Unavailable("debootstrap needs root")
    if shutil.which("debootstrap") is None:
        raise Unavailable("debootstrap is missing: apt-get install debootstrap")
    mirror = apt_mirror()
    with tempfile.TemporaryDirectory(prefix="shelfwise-base-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        made = _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             SUITE, str(rootfs), mirror],
            timeout=DEBOOTSTRAP_TIMEOUT_S, capture_output=True,
        )  # fmt: skip
        if made.returncode != 0:
            raise Unavailable(f"debootstrap {SUITE} failed:\n{(made.stdout + made.stderr)[-3000:]}")
        for part in BASE_TRIM:
            for child in (rootfs / part).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        tar = subprocess.Popen(  # noqa: S603 - our own argv
            ["tar", "-C", str(rootfs), "-c", "."],  # noqa: S607 - the system tar
            stdout=subprocess.PIPE,
        )
        try:
            imported = _run(
                [*podman, "import", "--change", 'CMD ["python3"]', "-", tag],
                timeout=300, stdin=tar.stdout, capture_output=True,
            )  # fmt: skip
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait(timeout=60)
        if imported.returncode != 0:
            raise Unavailable(f"podman import failed: {imported.stderr[-2000:]}")
    return tag


def pip_settings(python: str = sys.executable) -> dict[str, str]:
    """This machine's pip settings (its config files and PIP_* variables, as
    ``pip config list`` merges them) that reach an index, plus the CA bundle it trusts."""
    listed = _run([python, "-m", "pip", "config", "list"], timeout=60, capture_output=True)
    found: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        match = re.match(r"^[^.]*\.([\w-]+)='(.*)'$", line)
        if match:
            found[match.group(1)] = match.group(2)  # later lines (env) win
    chosen = {key: value for key, value in found.items() if key in PIP_NETWORK_KEYS}
    for key in ("index-url", "extra-index-url"):
        urls = [url for url in chosen.get(key, "").split() if not url.startswith("file:")]
        chosen.pop(key, None)
        if urls:
            chosen[key] = " ".join(urls)
    cert = found.get("cert") or os.environ.get("SSL_CERT_FILE") or ""
    if not cert and SYSTEM_CA_BUNDLE.exists():
        cert = str(SYSTEM_CA_BUNDLE)
    if cert:
        chosen["cert"] = cert
    return chosen


def _write_pip_secrets(folder: Path, settings: dict[str, str]) -> list[str]:
    """pip.conf (and the CA bundle it names) in ``folder``, as `podman build` flags."""
    flags = []
    lines = ["[global]"]
    for key, value in settings.items():
        if key == "cert":
            shutil.copyfile(value, folder / "pip-cert")
            flags += ["--secret", f"id=pip-cert,src={folder / 'pip-cert'}"]
            value = "/run/secrets/pip-cert"
        lines.append(f"{key} = {value}")
    (folder / "pip.conf").write_text("\n".join(lines) + "\n")
    return [*flags, "--secret", f"id=pip.conf,src={folder / 'pip.conf'}"]


def build(tag: str = TAG, base: str = BASE_IMAGE, *, log: Path | None = None) -> float:
    """`podman build` of the Dockerfile on ``base``; returns the seconds it took."""
    podman = engine()
    with tempfile.TemporaryDirectory(prefix="shelfwise-pip-") as secrets:
        argv = [
            *podman, "build", "--format", "docker",  # docker format: keeps HEALTHCHECK
            *RUN_FLAGS, "--build-arg", f"BASE_IMAGE={base}",
            *_write_pip_secrets(Path(secrets), pip_settings()),
            "--tag", tag, "--file", str(ROOT / "Dockerfile"), str(ROOT),
        ]  # fmt: skip
        started = time.monotonic()
        if log is None:
            built = _run(argv, timeout=BUILD_TIMEOUT_S)
        else:
            with open(log, "w") as out:
                built = _run(argv, timeout=BUILD_TIMEOUT_S, stdout=out, stderr=subprocess.STDOUT)
    if built.returncode != 0:
        where = f" (the log: {log})" if log else ""
        raise RuntimeError(f"podman build failed with {built.returncode}{where}")
    return time.monotonic() - started


def size(tag: str) -> str:
    shown = _run([*engine(), "image", "inspect", "--format", "{{.Size}}", tag], timeout=60,
                 capture_output=True)  # fmt: skip
    return f"{int(shown.stdout.strip()) / 1e6:.0f} MB" if shown.returncode == 0 else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default=TAG)
    parser.add_argument("--base", default=BASE_IMAGE)
    parser.add_argument("--rebuild-base", action="store_true")
    parser.add_argument("--log", type=Path, help="the build's output (default: shown)")
    parser.add_argument("--print-run-flags", action="store_true")
    options = parser.parse_args()
    try:
        if options.print_run_flags:
            print(shlex.join([*engine(), "run", *RUN_FLAGS]))
            return 0
        started = time.monotonic()
        base = make_base(options.base, rebuild=options.rebuild_base)
        print(f"base {base}: {size(base)} ({time.monotonic() - started:.0f} s)")
        seconds = build(options.tag, base, log=options.log)
    except Unavailable as error:
        print(f"cannot build here: {error}", file=sys.stderr)
        return 2
    print(f"image {options.tag}: {size(options.tag)} (built in {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
