"""Child process that runs ``bhb`` command lines the way a user's shell would, but fast.

Started by :mod:`tests.robustness.corpus` (through ``unshare`` where it can, so that it may mount
small full or read-only folders). It imports the CLI and its heavy packages (astropy, torch)
once, then forks one child per case: each child gets its own stdout/stderr files, stdin from
/dev/null, an address-space limit (RLIMIT_AS) and calls ``bhb_viewer.cli.main(argv)``; an
exception escaping ``main`` is printed as the interpreter would print it (a traceback) and exits 1.
The parent kills a child that runs past its timeout and reports exit status, signal, wall time and
peak RSS per case as one JSON object per line on stdout.

Input on stdin, one JSON object: ``{"mounts": [{"path", "size", "ro"}], "mem_mb": N,
"jobs": N, "cases": [{"id", "argv", "timeout", "cwd"}]}``; N cases run at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import traceback


def _preload() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import astropy.io.fits
    import astropy.table  # noqa: F401
    import torch

    torch.set_num_threads(1)
    import bhb_viewer.cli
    import bhb_viewer.ml.inference
    import bhb_viewer.ml.training

    for module_name, _ in bhb_viewer.cli.COMMANDS.values():
        with contextlib.suppress(ImportError):
            __import__(module_name)


def _mount(mounts: list[dict]) -> str | None:
    """Mount each requested tmpfs (size, read-only); the reason it cannot, or None."""
    for m in mounts:
        os.makedirs(m["path"], exist_ok=True)
        opts = f"size={m['size']}" + (",ro" if m.get("ro") else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "none", m["path"]], capture_output=True, text=True)
        if done.returncode:
            return f"mount {m['path']}: {done.stderr.strip()}"
        if m.get("fill"):  # leave no free block: a full disk
            try:
                with open(os.path.join(m["path"], "filler"), "wb") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError:
                pass
    return None


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(case: dict, out_dir: str, mem_limit: int) -> None:
    rc = 1
    try:
        os.setpgid(0, 0)
        fd_in = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd_in, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(
                os.path.join(out_dir, f"{case['id']}.{name}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
            )
            os.dup2(target, fd)
            os.close(target)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
        os.chdir(case.get("cwd") or os.getcwd())
        os.environ.update(case.get("env") or {})
        from bhb_viewer.cli import main

        try:
            rc = main(list(case["argv"]))
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            rc = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(int(rc or 0) & 0xFF)


def _start(case: dict, out_dir: str, mem_limit: int) -> int:
    pid = os.fork()
    if pid == 0:
        _child(case, out_dir, mem_limit)
    return pid


def _result(case: dict, out_dir: str, status: int, usage, seconds: float, timed_out: bool) -> dict:
    read = {}
    for name in ("stdout", "stderr"):
        with open(os.path.join(out_dir, f"{case['id']}.{name}"), errors="replace") as f:
            read[name] = f.read()[-20000:]
    return {
        "id": case["id"],
        "rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) and not timed_out else None,
        "timed_out": timed_out,
        "seconds": round(seconds, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **read,
    }


def _run_all(cases: list[dict], out_dir: str, mem_limit: int, jobs: int) -> None:
    """Run the cases, ``jobs`` at a time; print each result as it finishes."""
    todo = list(reversed(cases))
    running: dict[int, tuple[dict, float]] = {}
    while todo or running:
        while todo and len(running) < jobs:
            case = todo.pop()
            running[_start(case, out_dir, mem_limit)] = (case, time.monotonic())
        time.sleep(0.01)
        for pid, (case, start) in list(running.items()):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            timed_out = not done and time.monotonic() - start > case["timeout"]
            if timed_out:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _, status, usage = os.wait4(pid, 0)
            if done or timed_out:
                del running[pid]
                print(
                    json.dumps(_result(case, out_dir, status, usage, time.monotonic() - start, timed_out)), flush=True
                )


def main() -> None:
    request = json.loads(sys.stdin.read())
    problem = _mount(request.get("mounts", []))
    print(json.dumps({"mounted": problem is None, "mount_problem": problem}), flush=True)
    _preload()
    mem_limit = _vm_bytes() + int(request.get("mem_mb", 1536)) * 2**20
    _run_all(request["cases"], request["out_dir"], mem_limit, int(request.get("jobs", 1)))
    if problem is None:  # what the cases left in the mounted folders (visible only in this namespace)
        print(json.dumps({"listing": {m["path"]: sorted(os.listdir(m["path"])) for m in request.get("mounts", [])}}))


if __name__ == "__main__":
    main()
