# SPDX-License-Identifier: MIT
# ralph-exec's Python harness, run as:
#   python3 -I -B -u -c HARNESS_SOURCE OUTPUT_PATH [PRELOAD]
# (an argv element, never through a shell).  -I keeps everything the job
# controls (PYTHON* variables, a user site) from running code at start-up;
# the job's PYTHONPATH is applied after the go-ahead.  It waits on stdin
# for its input (or a go-ahead), runs calculate(inputs), writes the JSON of
# its return value to OUTPUT_PATH, which ralph-exec copies out once it has
# exited.  PRELOAD (a warm sandbox's, ralph-worker --warm-preload): modules
# to import, comma-separated, before it waits.  The protocol, the exit
# statuses and what a job sees are in docs/harness.md, told there once.
import sys

# Should a Python put the working directory (/workspace, where the job's
# files are about to land) on sys.path despite -I, take it off: nothing of
# the harness is ever imported from there.
if sys.path and sys.path[0] in ("", "/workspace"):
    del sys.path[0]

import atexit
import io
import json
import os
import tokenize
import traceback
import types

WORKSPACE = "/workspace"
HERE = os.path.join(WORKSPACE, ".ralph")
MAX_MESSAGE = 8192
MAX_TRACEBACK = 32768


def strip_margin(source):
    """Remove a margin that every code line shares (code pasted from an
    indented context), leaving the lines inside multi-line strings exactly
    as they are.  Returns None when there is no such margin."""
    in_string = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                in_string.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return None
    lines = source.splitlines(keepends=True)
    margin = None
    for number, line in enumerate(lines, 1):
        body = line.lstrip(" \t")
        if number in in_string or not body.strip() or body.startswith("#"):
            continue
        lead = line[: len(line) - len(body)]
        margin = lead if margin is None else os.path.commonprefix([margin, lead])
    if not margin:
        return None
    out = []
    for number, line in enumerate(lines, 1):
        if number not in in_string and line.startswith(margin):
            line = line[len(margin):]
        out.append(line)
    return "".join(out)


def load_user_module(path):
    with open(path, "r", encoding="utf-8") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec")
    except IndentationError as original:
        stripped = strip_margin(source)
        if stripped is None:
            raise
        try:
            code = compile(stripped, path, "exec")
        except SyntaxError:
            raise original from None
    module = types.ModuleType("job")
    module.__file__ = path
    sys.modules["job"] = module
    exec(code, module.__dict__)
    return module


def write_atomic(path, text):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, ".ralph-output.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


NO_INPUT = 3  # exit status: stdin ended before the input did (the job's error)
PRELOAD_FAILED = 4  # exit status: a module of PRELOAD could not be imported
READY = b"RALPH-READY\n"  # on stdout once PRELOAD is imported (read by the pool, not a job)


def flush_output():
    """Write out what the job's streams still buffer: sys.stdout and
    sys.stderr, the job's replacements and the originals.  (C's stdio
    needs nothing: -u leaves it unbuffered.)"""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or odd stream: nothing to save
            pass


# The harness's exit status, once main() returned.
STATUS = []


def finish():
    """Registered with atexit before the job's code runs, so it runs last:
    after Python joined the job's threads and ran the job's own atexit
    handlers (which may still rewrite the output file: the file as they
    leave it is the result).  Writes out what the job's streams buffer, then,
    when main() returned, ends the process there: the rest of Python's
    shutdown tears down every module (numpy's: about 40 ms of CPU) for a
    container about to be removed.  So objects of the job still alive at
    exit are not finalized (no __del__, a file it left open is not flushed);
    its output streams are.  When the job's code ended the interpreter
    itself (SystemExit), Python's shutdown runs as usual."""
    flush_output()
    if STATUS:
        os._exit(STATUS[0])


def read_stdin(n):
    """Exactly n bytes from stdin (unbuffered: nothing past them is read,
    so the job's own reads start where the input ended); None at EOF."""
    data = bytearray()
    while len(data) < n:
        chunk = os.read(0, min(n - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return data


def read_header():
    """The first line on stdin (at most 64 bytes: a longer one comes back
    cut, without its newline), None at EOF."""
    line = b""
    while not line.endswith(b"\n"):
        if len(line) >= 64:
            return line
        byte = os.read(0, 1)
        if not byte:
            return None
        line += byte
    return line


def write_new(path, data):
    """Create path (not through a symbolic link) holding data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with open(fd, "wb") as f:
        f.write(data)


def preload(names):
    """Import the modules named (comma-separated), from the image alone:
    nothing of any job's is in /workspace yet, and /workspace is not on
    sys.path.  Their output goes to /dev/null, not to the streams a job's
    output will come on.  Then READY on stdout, which the warm pool reads
    (its job never sees it).  Returns None, or the failure's message."""
    import importlib
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    failed = None
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        for name in names.split(","):
            try:
                importlib.import_module(name)
            except BaseException as exc:  # noqa: BLE001 - any failure fails the sandbox
                failed = "preload of %s failed: %s: %s" % (name, type(exc).__name__, exc)
                break
    finally:
        flush_output()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)
    if failed is None:
        os.write(1, READY)
    return failed


def receive_input():
    """Wait for the go-ahead or the input itself (see the top).  Returns
    None when the input is in place, else (exit status, message)."""
    try:
        header = read_header()
        if header == b"\n":
            return None
        if header is None:
            return NO_INPUT, "the job's input never came (stdin ended before the go-ahead)"
        fields = header.split()
        if (not header.endswith(b"\n") or len(fields) != 3 or fields[0] != b"RALPH-INPUT"
                or not all(f.isdigit() for f in fields[1:])):
            return NO_INPUT, "unexpected input header on stdin: %r" % header[:64]
        code = read_stdin(int(fields[1]))
        inputs = read_stdin(int(fields[2])) if code is not None else None
    except OSError as exc:
        return NO_INPUT, "reading the job's input from stdin: %s" % exc
    if inputs is None:
        return NO_INPUT, "the job's input was cut short on stdin"
    # The engine gives the job's volume the owner of the image's /workspace.
    if not os.access(WORKSPACE, os.W_OK):
        return 2, ("%s is not writable by the job's user (uid %d): the image must have "
                   "%s as a directory that user owns, as ralph-sandbox:python does"
                   % (WORKSPACE, os.getuid(), WORKSPACE))
    try:
        try:
            os.mkdir(HERE, 0o755)
        except FileExistsError:
            if not os.path.isdir(HERE) or os.path.islink(HERE):
                raise
        write_new(os.path.join(HERE, "job.py"), code)
        write_new(os.path.join(HERE, "inputs.json"), inputs)
    except OSError as exc:
        return 2, "cannot write the job's input into %s: %s" % (HERE, exc)
    return None


def main():
    if len(sys.argv) not in (2, 3):
        print("usage: python3 -c HARNESS OUTPUT_PATH [PRELOAD]", file=sys.stderr)
        return 2
    atexit.register(finish)
    if len(sys.argv) == 3:
        failed = preload(sys.argv[2])
        if failed is not None:
            print("ralph-exec harness: " + failed[:MAX_MESSAGE], file=sys.stderr)
            return PRELOAD_FAILED
    problem = receive_input()
    if problem is not None:
        print("ralph-exec harness: " + problem[1], file=sys.stderr)
        return problem[0]
    output_path = os.path.join(WORKSPACE, sys.argv[1])
    os.chdir(WORKSPACE)
    if not os.path.isfile(os.path.join(HERE, "job.py")):
        print("ralph-exec harness: the job's input is not visible in /workspace after the "
              "go-ahead (under gVisor, runsc must share mounts: --file-access-mounts=shared)",
              file=sys.stderr)
        return 2
    # The path as `python3 .ralph/harness.py` with PYTHONPATH had it, now
    # that the input is complete: the workspace, .ralph (so that processes
    # started by spawn or forkserver can import the job's module), then
    # PYTHONPATH, absolute, each once, ahead of the standard library.
    front = [WORKSPACE, HERE]
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        entry = os.path.abspath(entry) if entry else ""
        if entry and entry not in front:
            front.append(entry)
    sys.path[:] = front + [p for p in sys.path if p not in front]
    try:
        with open(os.path.join(HERE, "inputs.json"), "r", encoding="utf-8") as f:
            inputs = json.load(f)
        module = load_user_module(os.path.join(HERE, "job.py"))
        calculate = getattr(module, "calculate", None)
        if not callable(calculate):
            raise NameError("the code does not define a function calculate(inputs)")
        result = calculate(inputs)
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)
        write_atomic(output_path, text)
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        sys.stderr.flush()
        info = {
            "type": type(exc).__name__,
            "message": str(exc)[:MAX_MESSAGE],
            "traceback": tb[-MAX_TRACEBACK:],
        }
        try:
            write_atomic(os.path.join(HERE, "error.json"), json.dumps(info))
        except Exception:  # noqa: BLE001 - the traceback on stderr remains
            pass
        return 1
    return 0


if __name__ == "__main__":
    STATUS.append(main())
    sys.exit(STATUS[0])
