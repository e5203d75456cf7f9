# SPDX-License-Identifier: MIT
"""make bench: ralph-exec and ralph-worker against `docker run --rm` and a
docker-py executor, on one image, one job (examples/demo.json's calculate) and
one set of hardening flags, in one run.

Phase 1, per-job wall time: BENCH_LATENCY_RUNS rounds; each round runs every
tool once, one job at a time, in an order rotated every round (the machine is
noisy: the figures are medians of interleaved runs).
  docker-run     docker run --rm with the flags ralph-exec sends (the job's
                 code passed with python3 -c, its result read from stdout;
                 nothing is copied in or out)
  docker-py      bench/dockerpy_exec.py JOB: one new Python process per job
                 (what a script calling the SDK costs); its in-process time,
                 interpreter start and `import docker` excluded, is kept too
  ralph-exec     ralph-exec JOB
  worker-spool   ralph-worker --queue dir:, concurrency 1: from the job's
                 rename into incoming/ to its file in results/
  worker-redis   ralph-worker --queue redis://, concurrency 1: from LPUSH to
                 the task id popped from ralph:done (result stored)
  worker-warm    worker-redis with a warm pool made for the bench's job
                 (--warm-job), its harness preloading numpy, which the
                 bench's job imports (--warm-preload BENCH_WARM_PRELOAD):
                 concurrency 2 and --warm 2 here; in phase 2 --warm is
                 half the concurrency, at least 1, at most 4
Phase 2, throughput at each of BENCH_CONCURRENCY: BENCH_JOBS jobs per tool
and concurrency (BENCH_JOBS_C1 at concurrency 1, by default the same), in
BENCH_BATCHES batches interleaved
between the tools of BENCH_SWEEP; jobs/s = jobs / summed batch time (from
the first enqueue or spawn to the last result). docker-run and ralph-exec are driven by
`xargs -P`, docker-py by a thread pool in one process, the workers are
started with --concurrency P and fed the whole batch at once.

Client CPU: user+system time of the client processes (docker CLI and xargs,
the Python process, ralph-exec, the worker), per job; the engine's own CPU is
not counted for anyone. Worker peak RSS: VmHWM of the worker process, read
just before it is stopped. After every tool's run the bench checks, from the
engine's event stream, that every container it created (labels
ralph-bench.run, or a task id with this run's prefix) and every volume those
containers mounted is gone; any left fails the run.

Environment (defaults in brackets):
  BENCH_LATENCY_RUNS [30]  BENCH_JOBS [100]  BENCH_JOBS_C1 [100]  BENCH_BATCHES [2]
  BENCH_CONCURRENCY ["1 2 4 8"]
  BENCH_SWEEP ["docker-run worker-spool worker-redis worker-warm"]  (add ralph-exec, docker-py)
  BENCH_LATENCY_TOOLS [all five]  BENCH_QUICK=1 (4 runs, 8 jobs, c=1 and 8)
  BENCH_OUT [build/bench/results.json]  RALPH_EXEC, RALPH_WORKER [build/...]
  BENCH_IMAGE [ralph-sandbox:python]  BENCH_JOB [examples/demo.json]
  BENCH_WARM_PRELOAD [numpy]  (worker-warm's --warm-preload; empty: none)
"""
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable or "/usr/bin/python3"
ALL_TOOLS = ["docker-run", "docker-py", "ralph-exec", "worker-spool", "worker-redis", "worker-warm"]
WORKERS = ("worker-spool", "worker-redis", "worker-warm")
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def env_int(name, default):
    v = os.environ.get(name, "")
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        raise BenchError("%s must be an integer, not %r" % (name, v))
    if n < 1:
        raise BenchError("%s must be at least 1" % name)
    return n


def env_list(name, default, allowed=None):
    items = os.environ.get(name, "").split() or default
    for it in items:
        if allowed is not None and it not in allowed:
            raise BenchError("%s: unknown %r (known: %s)" % (name, it, " ".join(allowed)))
    return items


class Config:
    def __init__(self):
        quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        self.quick = quick
        self.latency_runs = env_int("BENCH_LATENCY_RUNS", 4 if quick else 30)
        self.jobs = env_int("BENCH_JOBS", 8 if quick else 100)
        self.jobs_c1 = env_int("BENCH_JOBS_C1", 8 if quick else 100)
        self.batches = env_int("BENCH_BATCHES", 2)
        conc = env_list("BENCH_CONCURRENCY", ["1", "8"] if quick else ["1", "2", "4", "8"])
        try:
            self.concurrency = [int(c) for c in conc]
        except ValueError:
            raise BenchError("BENCH_CONCURRENCY: integers, e.g. '1 2 4 8'")
        if any(c < 1 or c > 64 for c in self.concurrency):
            raise BenchError("BENCH_CONCURRENCY: each between 1 and 64")
        self.sweep = env_list("BENCH_SWEEP", ["docker-run", "worker-spool", "worker-redis", "worker-warm"],
                              ALL_TOOLS)
        self.latency_tools = env_list("BENCH_LATENCY_TOOLS", ALL_TOOLS, ALL_TOOLS)
        self.batches = min(self.batches, self.jobs, self.jobs_c1)
        self.out = os.environ.get("BENCH_OUT") or os.path.join(ROOT, "build/bench/results.json")
        self.exec = os.path.abspath(os.environ.get("RALPH_EXEC") or os.path.join(ROOT, "build/ralph-exec"))
        self.worker = os.path.abspath(os.environ.get("RALPH_WORKER") or os.path.join(ROOT, "build/ralph-worker"))
        self.image = os.environ.get("BENCH_IMAGE") or "ralph-sandbox:python"
        self.job_file = os.environ.get("BENCH_JOB") or os.path.join(ROOT, "examples/demo.json")
        self.warm_preload = os.environ.get("BENCH_WARM_PRELOAD", "numpy")

    def as_dict(self):
        return {"latency_runs": self.latency_runs, "jobs_per_point": self.jobs,
                "jobs_at_concurrency_1": self.jobs_c1,
                "batches_per_point": self.batches, "concurrency": self.concurrency,
                "sweep_tools": self.sweep, "latency_tools": self.latency_tools,
                "quick": self.quick, "image": self.image, "ralph_exec": self.exec,
                "ralph_worker": self.worker, "job": os.path.relpath(self.job_file, ROOT),
                "warm_preload": self.warm_preload}


# ---- small helpers -------------------------------------------------------------

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid):
    """utime+stime of a live process, all its threads, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return None


def warm_for(conc):
    """phase 2's --warm at a concurrency: half of it, at least 1, at most 4."""
    return max(1, min(4, conc // 2))


def median(xs):
    return statistics.median(xs) if xs else None


def p95(xs):
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def rotate(xs, k):
    if not xs:
        return xs
    k %= len(xs)
    return xs[k:] + xs[:k]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_atomic(path, text):
    d, name = os.path.split(path)
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def decode_all(text):
    """Every JSON value in a stream of concatenated values."""
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        v, i = dec.raw_decode(text, i)
        out.append(v)


class Redis:
    """Just enough of RESP for the bench (no client library needed)."""

    def __init__(self, port, timeout=120):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def __call__(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _reply(self):
        line = self.f.readline()
        if not line:
            raise BenchError("redis: connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BenchError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise BenchError("redis: unexpected reply %r" % line)

    def close(self):
        self.f.close()
        self.sock.close()


# ---- the engine's event stream: what this run created, and whether it is gone ----

class Events:
    def __init__(self, run_id, task_prefix):
        self.run_id, self.task_prefix = run_id, task_prefix
        self.lock = threading.Condition()
        self.containers = {}      # id -> tool
        self.gone_c = set()
        self.volumes = {}         # volume -> container id
        self.gone_v = set()       # every volume destroyed during the run
        self.seen_volumes = set()  # created during the run (any origin)
        self.fresh_volumes = []    # created since the last container create
        self.owners = {}           # container id -> its ralph.owner label
        self.pools = set()         # owners whose idle warm sandboxes are no leak (yet)
        self.proc = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}",
             "--filter", "type=container", "--filter", "type=volume",
             "--filter", "event=create", "--filter", "event=mount", "--filter", "event=destroy"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def tool_of(self, attrs):
        if attrs.get("ralph-bench.run") == self.run_id:
            return attrs.get("ralph-bench.tool", "?")
        tid = attrs.get("ralph.task_id", "")
        if tid.startswith(self.task_prefix):
            return tid[len(self.task_prefix):].split(".", 1)[0]
        # A warm sandbox has no task id: its worker's id tells (start_worker).
        owner = attrs.get("ralph.owner", "")
        prefix = "ralph-worker/bench-%s-" % self.run_id
        if owner.startswith(prefix):
            return "worker-" + owner[len(prefix):].split("-", 1)[0]
        return None

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            kind, action = ev.get("Type"), ev.get("Action")
            actor = ev.get("Actor") or {}
            ident, attrs = actor.get("ID", ""), actor.get("Attributes") or {}
            with self.lock:
                if kind == "container" and action == "create":
                    tool = self.tool_of(attrs)
                    if tool is not None:
                        self.containers[ident] = tool
                        self.owners[ident] = attrs.get("ralph.owner", "")
                        # Its anonymous volume is created just before it; a
                        # container never started has no mount event to tell.
                        for v in self.fresh_volumes:
                            self.volumes.setdefault(v, ident)
                    self.fresh_volumes = []
                elif kind == "container" and action == "destroy":
                    if ident in self.containers:
                        self.gone_c.add(ident)
                elif kind == "volume" and action == "create":
                    self.seen_volumes.add(ident)
                    self.fresh_volumes.append(ident)
                elif kind == "volume" and action == "mount":
                    if attrs.get("container") in self.containers:
                        self.volumes[ident] = attrs["container"]
                    elif self.volumes.get(ident) in self.containers:
                        del self.volumes[ident]  # mounted by someone else's container after all
                elif kind == "volume" and action == "destroy":
                    self.gone_v.add(ident)
                    if ident in self.fresh_volumes:
                        self.fresh_volumes.remove(ident)
                self.lock.notify_all()

    def wait_live(self, tries=20):
        """Make events of our own until the stream shows one (the CLI
        subscribes some time after it starts)."""
        for i in range(tries):
            name = "bench-%s-probe%d" % (self.run_id, i)
            subprocess.run(["docker", "volume", "create", name], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["docker", "volume", "rm", name], check=True, stdout=subprocess.DEVNULL)
            with self.lock:
                if self.lock.wait_for(lambda: name in self.seen_volumes, 1.0):
                    self.seen_volumes.clear()
                    self.fresh_volumes = []
                    return
        raise BenchError("docker events shows nothing: cannot check for leaks")

    def counts(self):
        with self.lock:
            by_tool = {}
            for tool in self.containers.values():
                by_tool[tool] = by_tool.get(tool, 0) + 1
            return by_tool

    def check(self, what, expect=None, timeout=15):
        """Fail unless every container of ours and every volume they mounted is
        gone.  expect: {tool: containers created so far} as a sanity bound."""
        def left():
            idle = {c for c in self.containers
                    if c not in self.gone_c and self.owners.get(c) in self.pools}
            return ([c for c in self.containers if c not in self.gone_c and c not in idle],
                    [v for v in self.volumes if v not in self.gone_v and self.volumes[v] not in idle])
        with self.lock:
            self.lock.wait_for(lambda: not any(left()), timeout)
            cs, vs = left()
            tools = {c: self.containers[c] for c in cs}
        by_tool = self.counts()
        for tool, n in (expect or {}).items():
            if by_tool.get(tool, 0) < n:
                raise BenchError("leak check after %s: the event stream shows %d containers of %s, "
                                 "%d expected: cannot vouch for it" % (what, by_tool.get(tool, 0), tool, n))
        if not cs and not vs:
            return
        # Events may lag; ask the engine itself before calling it a leak.
        alive_c = set(subprocess.run(["docker", "ps", "-aq", "--no-trunc"], capture_output=True,
                                     text=True, check=True).stdout.split())
        alive_v = set(subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True,
                                     text=True, check=True).stdout.split())
        cs = [c for c in cs if c in alive_c]
        vs = [v for v in vs if v in alive_v]
        if cs or vs:
            lines = ["LEAK after %s:" % what]
            lines += ["  container %s (%s)" % (c[:12], tools[c]) for c in cs]
            lines += ["  volume %s (container %s)" % (v[:12], self.volumes[v][:12]) for v in vs]
            lines.append("  (left in place for inspection; remove with docker rm -fv / docker volume rm)")
            raise BenchError("\n".join(lines))

    def summary(self):
        with self.lock:
            return {"containers_created": len(self.containers), "containers_removed": len(self.gone_c),
                    "volumes": len(self.volumes),
                    "volumes_removed": len([v for v in self.volumes if v in self.gone_v]),
                    "by_tool": self.counts_unlocked()}

    def counts_unlocked(self):
        by_tool = {}
        for tool in self.containers.values():
            by_tool[tool] = by_tool.get(tool, 0) + 1
        return by_tool

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- the bench -------------------------------------------------------------------

class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self.run_id = time.strftime("%Y%m%d%H%M%S") + "-%d" % os.getpid()
        self.task_prefix = "bench-%s." % self.run_id
        self.tmp = tempfile.mkdtemp(prefix="ralph-bench-")
        self.procs = []          # (Popen, name): stopped at the end whatever happens
        self.redis_proc = None
        self.redis_port = None
        self.events = None
        self.seq = 0
        self.created = {}        # tool -> jobs run (containers expected)
        with open(cfg.job_file) as f:
            self.job = json.load(f)
        if "code" not in self.job:
            raise BenchError("%s: the bench needs a code job" % cfg.job_file)
        self.policy = os.path.join(self.tmp, "policy.json")
        with open(self.policy, "w") as f:
            f.write("{}\n")  # built-in defaults, whatever /etc/ralph-exec holds
        self.docker_argv = self.make_docker_argv()
        self.expected = None

    # -- job material ---------------------------------------------------------------
    def task_id(self, tool, tag):
        self.seq += 1
        return "%s%s.%s.%d" % (self.task_prefix, tool, tag, self.seq)

    def job_text(self, task_id):
        return json.dumps(dict(self.job, task_id=task_id))

    def job_file(self, task_id):
        path = os.path.join(self.tmp, "jobs", task_id + ".json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(self.job_text(task_id))
        return path

    def make_docker_argv(self):
        j = self.job

        def size(v):
            if isinstance(v, int):
                return str(v)
            return v
        mem = size(j.get("memory_limit", "256m"))
        fsize = j.get("file_size_limit", "64m")
        if not isinstance(fsize, int):
            fsize = int(fsize[:-1]) * {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[fsize[-1].lower()] \
                if fsize[-1].isalpha() else int(fsize)
        # The job as one python3 -c program: its code, then calculate(inputs)
        # printed as JSON (the inputs go in as a JSON string literal).
        script = (j["code"] + "\nimport json as _bench_json\n"
                  "print(_bench_json.dumps(calculate(_bench_json.loads(%s))))\n"
                  % json.dumps(json.dumps(j.get("inputs"))))
        return ["docker", "run", "--rm",
                "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--network", "none", "--user", "65534:65534",
                "--memory", mem, "--memory-swap", mem, "--cpus", str(j.get("cpu_limit", 1)),
                "--pids-limit", str(j.get("pids_limit", 64)),
                "--ulimit", "nofile=1024:1024", "--ulimit", "fsize=%d:%d" % (fsize, fsize),
                "--ulimit", "core=0:0",
                "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=64m,mode=1777",
                "--ipc", "private", "--shm-size", "16m", "--cgroupns", "private",
                "--init", "--log-driver", "none", "--oom-score-adj", "1000",
                "--hostname", "sandbox", "-v", "/workspace", "--workdir", "/workspace",
                "-e", "HOME=/tmp", "-e", "PYTHONUNBUFFERED=1", "-e", "PYTHONDONTWRITEBYTECODE=1",
                "--label", "ralph-bench.run=" + self.run_id, "--label", "ralph-bench.tool=docker-run",
                "--entrypoint", "", self.cfg.image, "python3", "-B", "-c", script]

    def check_output(self, tool, out):
        if self.expected is None:
            vals = [float(v) for v in (self.job.get("inputs") or {}).get("values", [])]
            self.expected = out  # first success sets the reference, checked below when possible
            if vals and isinstance(out, dict) and "mean" in out:
                ok = (abs(out["mean"] - statistics.fmean(vals)) < 1e-9
                      and abs(out["std"] - statistics.pstdev(vals)) < 1e-9 and out["n"] == len(vals))
                if not ok:
                    raise BenchError("%s: wrong output %r" % (tool, out))
            return
        if out != self.expected:
            raise BenchError("%s: output %r differs from %r" % (tool, out, self.expected))

    # -- processes --------------------------------------------------------------------
    def spawn(self, argv, name, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append((p, name))
        return p

    def start_redis(self):
        exe = shutil.which("redis-server")
        if exe is None:
            raise BenchError("redis-server not found (scripts/ensure-deps.sh installs it)")
        d = os.path.join(self.tmp, "redis")
        os.makedirs(d)
        for _ in range(5):
            port = free_port()
            logf = open(os.path.join(d, "log"), "ab")
            p = self.spawn([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                            "--save", "", "--appendonly", "no", "--daemonize", "no",
                            "--protected-mode", "yes"], "redis-server",
                           stdout=logf, stderr=subprocess.STDOUT)
            logf.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and p.poll() is None:
                try:
                    r = Redis(port, timeout=2)
                    info = r("INFO", "server").decode()
                    r.close()
                    if "process_id:%d\r\n" % p.pid in info:  # ours, not a server that took the port
                        self.redis_proc, self.redis_port = p, port
                        log("redis-server %d on 127.0.0.1:%d" % (p.pid, port))
                        return
                except (OSError, BenchError):
                    pass
                time.sleep(0.05)
            self.stop_proc(p)  # port taken meanwhile, or it failed: try another
        raise BenchError("could not start redis-server (log: %s/log)" % d)

    def stop_proc(self, p, sig=signal.SIGTERM, timeout=60):
        """Stop one of our children; returns (exit code, rusage)."""
        if p.returncode is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    p.returncode = os.waitstatus_to_exitcode(status)
                    return p.returncode, ru
                if time.monotonic() > deadline:
                    p.kill()
                    _, status, ru = os.wait4(p.pid, 0)
                    p.returncode = os.waitstatus_to_exitcode(status)
                    return p.returncode, ru
                time.sleep(0.02)
        return p.returncode, None

    # -- workers ----------------------------------------------------------------------
    def start_worker(self, kind, conc, warm=0):
        if kind == "worker-spool":
            qdir = os.path.join(self.tmp, "spool-c%d" % conc)
            for sub in ("incoming", "results"):
                os.makedirs(os.path.join(qdir, sub), exist_ok=True)
            url = "dir:" + qdir
        else:
            url = "redis://127.0.0.1:%d" % self.redis_port
            qdir = None
        wid = "bench-%s-%s-c%d" % (self.run_id, kind.split("-")[1], conc)
        if kind == "worker-warm":
            wid += "-w%d" % warm
        argv = [self.cfg.worker, "--queue", url, "--concurrency", str(conc),
                "--worker-id", wid, "--policy", self.policy, "--grace", "30"]
        if kind == "worker-warm":
            # Its own key prefix: it runs beside worker-redis on one Redis.
            argv += ["--prefix", "warm", "--warm", str(warm), "--warm-job", self.cfg.job_file]
            if self.cfg.warm_preload:
                argv += ["--warm-preload", self.cfg.warm_preload]
            # Its idle sandboxes are no leak while it runs.
            self.events.pools.add("ralph-worker/" + wid)
        logf = open(os.path.join(self.tmp, wid + ".log"), "ab")
        p = self.spawn(argv, wid, stdout=subprocess.DEVNULL, stderr=logf)
        logf.close()
        w = {"kind": kind, "conc": conc, "proc": p, "dir": qdir, "id": wid,
             "log": os.path.join(self.tmp, wid + ".log")}
        if kind in ("worker-redis", "worker-warm"):
            w["redis"] = Redis(self.redis_port)
            w["prefix"] = "warm" if kind == "worker-warm" else "ralph"
        # A first job, not measured: the worker is up and warm.
        self.worker_batch(w, 1, "warm")
        if warm:
            self.wait_pool(w, warm)
        return w

    def wait_pool(self, w, n, timeout=60):
        """Until the worker's heartbeat says its pool holds n sandboxes."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            self.worker_alive(w)
            hb = w["redis"]("GET", "%s:lease:%s" % (w["prefix"], w["id"]))
            if hb is not None and json.loads(hb).get("warm_idle", 0) >= n:
                return
            time.sleep(0.1)
        raise BenchError("%s: its pool did not fill (%d) in %ds; log: %s" % (w["id"], n, timeout, w["log"]))

    def stop_worker(self, w):
        self.events.pools.discard("ralph-worker/" + w["id"])
        p = w["proc"]
        if p.poll() is not None:
            raise BenchError("%s exited early (%s); log: %s" % (w["id"], p.returncode, w["log"]))
        hwm = proc_status(p.pid, "VmHWM")
        code, ru = self.stop_proc(p)
        if "redis" in w:
            w["redis"].close()
        if code != 0:
            raise BenchError("%s exited %s after SIGTERM; log: %s" % (w["id"], code, w["log"]))
        # (not ru_maxrss: Linux carries it over exec, so it would be the forked
        # Python's size whenever that is larger)
        return {"vmhwm_kib": hwm, "cpu_s_lifetime": (ru.ru_utime + ru.ru_stime) if ru else None}

    def worker_alive(self, w):
        if w["proc"].poll() is not None:
            raise BenchError("%s exited (%s); log: %s" % (w["id"], w["proc"].returncode, w["log"]))

    def worker_batch(self, w, n, tag, deadline_s=None):
        """Enqueue n jobs at once, wait for all n results; returns
        (seconds, worker cpu seconds, [outputs])."""
        kind = w["kind"]
        ids = [self.task_id(kind, tag) for _ in range(n)]
        texts = [self.job_text(t) for t in ids]
        deadline_s = deadline_s or 60 + 15 * n
        pid = w["proc"].pid
        cpu0 = proc_cpu(pid)
        t0 = time.monotonic()
        if kind == "worker-spool":
            inc, res = os.path.join(w["dir"], "incoming"), os.path.join(w["dir"], "results")
            for t, text in zip(ids, texts):
                write_atomic(os.path.join(inc, t + ".json"), text)
            want = set(i + ".json" for i in ids)
            pause = 0.002 if n == 1 else 0.01
            while True:
                if n == 1:
                    done = os.path.exists(os.path.join(res, ids[0] + ".json"))
                else:
                    done = want.issubset(os.listdir(res))
                if done:
                    break
                if time.monotonic() - t0 > deadline_s:
                    raise BenchError("%s: results missing after %ds; log: %s"
                                     % (w["id"], deadline_s, w["log"]))
                self.worker_alive(w)
                time.sleep(pause)
            t1 = time.monotonic()
            cpu1 = proc_cpu(pid)
            results = []
            for t in ids:
                with open(os.path.join(res, t + ".json")) as f:
                    results.append(json.load(f))
        else:
            r, px = w["redis"], w["prefix"]
            r("LPUSH", px + ":jobs", *texts)
            pending = set(ids)
            while pending:
                left = deadline_s - (time.monotonic() - t0)
                if left <= 0:
                    raise BenchError("%s: results missing after %ds; log: %s"
                                     % (w["id"], deadline_s, w["log"]))
                got = r("BRPOP", px + ":done", "%.3f" % min(left, 2.0))
                if got is None:
                    self.worker_alive(w)
                    continue
                pending.discard(got[1].decode())
            t1 = time.monotonic()
            cpu1 = proc_cpu(pid)
            results = [json.loads(r("GET", px + ":result:" + t)) for t in ids]
        outs = []
        for res_ in results:
            if res_.get("status") != "success":
                raise BenchError("%s: job %s ended %s: %s" % (w["id"], res_.get("task_id"),
                                                             res_.get("status"), res_.get("error")))
            outs.append(res_.get("output"))
        self.created[kind] = self.created.get(kind, 0) + n
        return t1 - t0, cpu1 - cpu0, outs

    # -- one-off tools --------------------------------------------------------------------
    def run_client(self, argv, what, stdin=None, timeout=600):
        """Run a client to completion; returns (seconds, cpu seconds, stdout)."""
        c0 = children_cpu()
        t0 = time.monotonic()
        # Its own process group: on an interrupt every client in it (xargs's
        # children too) gets SIGTERM and removes its container, none is orphaned.
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = p.communicate(stdin, timeout=timeout)
        except BaseException:
            self.stop_group(p)
            raise
        t1 = time.monotonic()
        c1 = children_cpu()
        if p.returncode != 0:
            raise BenchError("%s exited %d: %s%s" % (what, p.returncode, err[-2000:], out[-2000:]))
        return t1 - t0, c1 - c0, out

    @staticmethod
    def stop_group(p, grace=20):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.killpg(p.pid, 0)
                except ProcessLookupError:
                    break  # the whole group is gone
                p.poll()
                time.sleep(0.05)
            else:
                continue
            break
        p.poll()

    def one_off(self, tool, tag):
        """One job through a one-off tool; returns (seconds, cpu s, output, extra)."""
        extra = {}
        if tool == "docker-run":
            dt, cpu, out = self.run_client(self.docker_argv, tool)
            output = json.loads(out)
        elif tool == "docker-py":
            tid = self.task_id(tool, tag)
            path = self.job_file(tid)
            dt, cpu, out = self.run_client(
                [PY, os.path.join(ROOT, "bench/dockerpy_exec.py"), "--label",
                 "ralph-bench.run=" + self.run_id, "--label", "ralph-bench.tool=docker-py", path], tool)
            res = json.loads(out)
            output = res["output"]
            extra["in_process_s"] = res["duration_ms"] / 1000
        elif tool == "ralph-exec":
            tid = self.task_id(tool, tag)
            path = self.job_file(tid)
            dt, cpu, out = self.run_client([self.cfg.exec, "-q", "--policy", self.policy, path], tool)
            res = json.loads(out)
            if res.get("status") != "success":
                raise BenchError("ralph-exec: %s: %s" % (res.get("status"), res.get("error")))
            output = res["output"]
        else:
            raise AssertionError(tool)
        self.created[tool] = self.created.get(tool, 0) + 1
        return dt, cpu, output, extra

    def client_batch(self, tool, n, conc, tag):
        """n jobs at concurrency conc through docker-run/ralph-exec (xargs -P)
        or docker-py (thread pool); returns (seconds, client cpu s, outputs)."""
        if tool == "docker-run":
            # xargs appends one number to each command line: python3 -c ignores it (sys.argv[1]).
            argv = ["xargs", "-P", str(conc), "-n", "1"] + self.docker_argv
            stdin = "".join("%d\n" % i for i in range(n))
            dt, cpu, out = self.run_client(argv, "xargs docker run", stdin)
            outs = decode_all(out)
        elif tool == "ralph-exec":
            paths = [self.job_file(self.task_id(tool, tag)) for _ in range(n)]
            # Each result to its own file (-o): concurrent writers would interleave on one pipe.
            argv = ["xargs", "-P", str(conc), "-I{}", self.cfg.exec, "-q", "--policy", self.policy,
                    "-o", "{}.result", "{}"]
            dt, cpu, _ = self.run_client(argv, "xargs ralph-exec", "".join(p + "\n" for p in paths))
            results = []
            for p in paths:
                with open(p + ".result") as f:
                    results.append(json.load(f))
            bad = [r for r in results if r.get("status") != "success"]
            if bad:
                raise BenchError("ralph-exec: %s" % bad[0].get("error"))
            outs = [r["output"] for r in results]
        elif tool == "docker-py":
            path = self.job_file(self.task_id(tool, tag))
            self.seq += n
            dt, cpu, out = self.run_client(
                [PY, os.path.join(ROOT, "bench/dockerpy_exec.py"), "--count", str(n),
                 "--concurrency", str(conc), "--task-prefix", "%s%s.%s" % (self.task_prefix, tool, tag),
                 "--label", "ralph-bench.run=" + self.run_id, "--label", "ralph-bench.tool=docker-py",
                 path], "docker-py pool")
            outs = json.loads(out)["outputs"]
        else:
            raise AssertionError(tool)
        if len(outs) != n:
            raise BenchError("%s: %d results for %d jobs" % (tool, len(outs), n))
        self.created[tool] = self.created.get(tool, 0) + n
        return dt, cpu, outs

    # -- phases ---------------------------------------------------------------------------
    def latency_phase(self):
        cfg = self.cfg
        tools = cfg.latency_tools
        workers = {}
        for kind in WORKERS:
            if kind == "worker-warm" and kind in tools:
                workers[kind] = self.start_worker(kind, 2, warm=2)
            elif kind in tools:
                workers[kind] = self.start_worker(kind, 1)
        for tool in tools:  # one warm run each (page cache, image layers), not counted
            if tool not in WORKERS:
                self.check_output(tool, self.one_off(tool, "warm")[2])
        self.events.check("warm-up", dict(self.created))
        samples = {t: {"wall_s": [], "cpu_s": [], "in_process_s": []} for t in tools}
        log("latency: %d interleaved rounds of %s" % (cfg.latency_runs, " ".join(tools)))
        for i in range(cfg.latency_runs):
            for tool in rotate(tools, i):
                if tool in workers:
                    dt, cpu, outs = self.worker_batch(workers[tool], 1, "lat")
                    out = outs[0]
                    extra = {}
                else:
                    dt, cpu, out, extra = self.one_off(tool, "lat")
                self.check_output(tool, out)
                s = samples[tool]
                s["wall_s"].append(dt)
                s["cpu_s"].append(cpu)
                if "in_process_s" in extra:
                    s["in_process_s"].append(extra["in_process_s"])
            self.events.check("latency round %d" % (i + 1), dict(self.created))
            if (i + 1) % 5 == 0 or i + 1 == cfg.latency_runs:
                log("  round %d/%d: %s" % (i + 1, cfg.latency_runs, ", ".join(
                    "%s %.0f ms" % (t, 1000 * median(samples[t]["wall_s"])) for t in tools)))
        for w in workers.values():
            self.stop_worker(w)
        self.events.check("latency phase (workers stopped)", dict(self.created))
        return samples

    def throughput_phase(self):
        cfg = self.cfg
        points = {t: {} for t in cfg.sweep}
        rss = {}
        for pi, conc in enumerate(cfg.concurrency):
            total = cfg.jobs_c1 if conc == 1 else cfg.jobs
            sizes = [total // cfg.batches + (1 if b < total % cfg.batches else 0)
                     for b in range(cfg.batches)]
            log("throughput at concurrency %d: %d jobs per tool in %d interleaved batches (%s)"
                % (conc, total, cfg.batches, " ".join(cfg.sweep)))
            workers = {k: self.start_worker(k, conc, warm_for(conc) if k == "worker-warm" else 0)
                       for k in WORKERS if k in cfg.sweep}
            self.events.check("worker start, c=%d" % conc, dict(self.created))
            for t in cfg.sweep:
                points[t][conc] = {"batches": []}
            for b, n in enumerate(sizes):
                for tool in rotate(cfg.sweep, b + pi):
                    tag = "c%db%d" % (conc, b)
                    if tool in workers:
                        dt, cpu, outs = self.worker_batch(workers[tool], n, tag)
                    else:
                        dt, cpu, outs = self.client_batch(tool, n, conc, tag)
                    for o in outs:
                        self.check_output(tool, o)
                    self.events.check("%s, %d jobs at c=%d" % (tool, n, conc), dict(self.created))
                    points[tool][conc]["batches"].append({"jobs": n, "seconds": dt, "cpu_s": cpu})
            for kind, w in workers.items():
                rss.setdefault(kind, {})[conc] = self.stop_worker(w)
            self.events.check("workers stopped, c=%d" % conc, dict(self.created))
            for tool in cfg.sweep:
                pt = points[tool][conc]
                jobs = sum(x["jobs"] for x in pt["batches"])
                secs = sum(x["seconds"] for x in pt["batches"])
                pt["jobs"] = jobs
                pt["jobs_per_s"] = jobs / secs
                pt["batch_jobs_per_s"] = [x["jobs"] / x["seconds"] for x in pt["batches"]]
                pt["client_cpu_ms_per_job"] = 1000 * sum(x["cpu_s"] for x in pt["batches"]) / jobs
                if tool in rss:
                    pt["worker_vmhwm_kib"] = rss[tool][conc]["vmhwm_kib"]
            log("  " + ", ".join("%s %.2f/s" % (t, points[t][conc]["jobs_per_s"]) for t in cfg.sweep))
        return points, rss

    # -- the whole run ----------------------------------------------------------------------
    def preflight(self):
        for exe, what in ((self.cfg.exec, "ralph-exec"), (self.cfg.worker, "ralph-worker")):
            if not os.access(exe, os.X_OK):
                raise BenchError("%s not found at %s (make setup builds it)" % (what, exe))
        for tool in ("docker", "xargs"):
            if shutil.which(tool) is None:
                raise BenchError("%s not found" % tool)
        if "docker-py" in self.cfg.latency_tools + self.cfg.sweep:
            if subprocess.run([PY, "-c", "import docker"], capture_output=True).returncode != 0:
                raise BenchError("%s cannot import docker: install python3-docker "
                                 "(scripts/ensure-deps.sh python3-docker)" % PY)
        p = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", self.cfg.image],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError("image %s missing (make setup builds it)" % self.cfg.image)
        self.image_id = p.stdout.strip()
        v = subprocess.run(["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"],
                           capture_output=True, text=True, check=True).stdout.split()
        self.engine = {"version": v[0], "api_version": v[1]}

    def run(self):
        cfg = self.cfg
        self.preflight()
        started = time.time()
        load0 = os.getloadavg()
        self.events = Events(self.run_id, self.task_prefix)
        self.events.wait_live()
        dangling0 = set(subprocess.run(["docker", "volume", "ls", "-q", "-f", "dangling=true"],
                                       capture_output=True, text=True, check=True).stdout.split())
        if {"worker-redis", "worker-warm"} & set(cfg.latency_tools + cfg.sweep):
            self.start_redis()
        log("run %s: engine %s (API %s), %d CPUs, load %.2f; work dir %s"
            % (self.run_id, self.engine["version"], self.engine["api_version"], os.cpu_count(),
               load0[0], self.tmp))
        t0 = time.monotonic()
        lat = self.latency_phase() if cfg.latency_tools and cfg.latency_runs else {}
        t1 = time.monotonic()
        thr, rss = self.throughput_phase() if cfg.sweep and cfg.concurrency else ({}, {})
        t2 = time.monotonic()
        self.events.check("the whole run", dict(self.created))
        if self.redis_proc is not None:
            self.stop_proc(self.redis_proc)
        dangling1 = set(subprocess.run(["docker", "volume", "ls", "-q", "-f", "dangling=true"],
                                       capture_output=True, text=True, check=True).stdout.split())
        with self.events.lock:
            new_dangling = sorted((dangling1 - dangling0) & self.events.seen_volumes)
        leaks = self.events.summary()
        leaks["new_dangling_volumes_unattributed"] = new_dangling
        return self.report(lat, thr, rss, leaks, {
            "run_id": self.run_id, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "engine": self.engine, "cpus": os.cpu_count(), "load_before": load0, "load_after": os.getloadavg(),
            "image": self.cfg.image, "image_id": self.image_id, "git": self.git_describe(),
            "docker_run_argv": self.docker_argv[:-1] + ["<the job's code and calculate(inputs)>"],
            "seconds": {"latency_phase": round(t1 - t0, 1), "throughput_phase": round(t2 - t1, 1),
                        "total": round(time.time() - started, 1)}})

    def remove_leftovers(self):
        """After an interrupt (a client killed mid-job): remove what this run
        created and left behind -- its own containers and volumes, nothing else."""
        time.sleep(2)  # removals under way show up on the event stream
        with self.events.lock:
            cs = [c for c in self.events.containers if c not in self.events.gone_c]
            vs = [v for v in self.events.volumes if v not in self.events.gone_v]
        if cs:
            subprocess.run(["docker", "rm", "-fv"] + cs, capture_output=True)
        if vs:
            subprocess.run(["docker", "volume", "rm"] + vs, capture_output=True)
        if cs or vs:
            log("interrupted: removed %d containers and %d volumes of this run" % (len(cs), len(vs)))

    def git_describe(self):
        try:
            p = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                               capture_output=True, text=True)
        except OSError:
            return None
        return p.stdout.strip() or None

    def cleanup(self, interrupted=False):
        for p, name in reversed(self.procs):
            if p.returncode is None and p.poll() is None:
                log("stopping %s (%d)" % (name, p.pid))
                self.stop_proc(p, timeout=45)
        if interrupted and self.events is not None:
            self.remove_leftovers()
        if self.events is not None:
            self.events.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- report ------------------------------------------------------------------------------
    def report(self, lat, thr, rss, leaks, meta):
        cfg = self.cfg
        names = {"docker-run": "docker run --rm", "docker-py": "docker-py executor, new process",
                 "ralph-exec": "ralph-exec job.json", "worker-spool": "ralph-worker, spool queue",
                 "worker-redis": "ralph-worker, Redis",
                 "worker-warm": "ralph-worker, Redis, warm pool"}
        out = {"meta": meta, "config": cfg.as_dict(), "latency": {}, "throughput": {},
               "worker_peak_rss": {}, "leak_check": leaks, "headline": {}}
        L = out["latency"]
        for t, s in lat.items():
            L[t] = {"runs": len(s["wall_s"]), "median_ms": 1000 * median(s["wall_s"]),
                    "p95_ms": 1000 * p95(s["wall_s"]), "min_ms": 1000 * min(s["wall_s"]),
                    "client_cpu_ms_per_job": 1000 * statistics.fmean(s["cpu_s"]),
                    "samples_ms": [round(1000 * x, 1) for x in s["wall_s"]]}
            if s["in_process_s"]:
                L[t]["in_process_median_ms"] = 1000 * median(s["in_process_s"])
        base = L.get("docker-run")
        if base:
            for t in L:
                L[t]["ratio_vs_docker_run"] = L[t]["median_ms"] / base["median_ms"]
                # also the median of the per-round ratios (paired, same round)
                pairs = [a / b for a, b in zip(lat[t]["wall_s"], lat["docker-run"]["wall_s"])]
                L[t]["median_paired_ratio"] = median(pairs)
        T = out["throughput"]
        for t, pts in thr.items():
            T[t] = {"points": {str(c): pt for c, pt in pts.items()}}
            best_c = max(pts, key=lambda c: pts[c]["jobs_per_s"])
            T[t]["best"] = {"concurrency": best_c, "jobs_per_s": pts[best_c]["jobs_per_s"]}
        if "docker-run" in thr:
            db = T["docker-run"]["best"]["jobs_per_s"]
            for t in T:
                T[t]["best"]["ratio_vs_docker_run_best"] = T[t]["best"]["jobs_per_s"] / db
                for c, pt in T[t]["points"].items():
                    pt["ratio_vs_docker_run"] = pt["jobs_per_s"] / T["docker-run"]["points"][c]["jobs_per_s"]
        for kind, by_c in rss.items():
            out["worker_peak_rss"][kind] = {str(c): v for c, v in by_c.items()}
        H = out["headline"]
        if base and "ralph-exec" in L:
            H["ralph_exec_wall_ratio"] = L["ralph-exec"]["ratio_vs_docker_run"]
        for kind in WORKERS:
            k = kind.split("-")[1]
            if kind in T and "docker-run" in T:
                H["worker_%s_best_throughput_ratio" % k] = T[kind]["best"]["ratio_vs_docker_run_best"]
            if kind in L and base:
                H["worker_%s_latency_ratio" % k] = L[kind]["ratio_vs_docker_run"]
            if kind in rss and 8 in rss[kind]:
                H["worker_%s_vmhwm_kib_c8" % k] = rss[kind][8]["vmhwm_kib"]

        os.makedirs(os.path.dirname(cfg.out), exist_ok=True)
        with open(cfg.out + ".tmp", "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        os.rename(cfg.out + ".tmp", cfg.out)
        self.print_table(out, names)
        return out

    def print_table(self, out, names):
        cfg, m = self.cfg, out["meta"]
        P = print
        P()
        P("ralph bench, run %s (%s): engine %s, API %s, %d CPUs, load %.1f -> %.1f, %s, %.0f s"
          % (m["run_id"], m["git"], m["engine"]["version"], m["engine"]["api_version"], m["cpus"],
             m["load_before"][0], m["load_after"][0], cfg.image, m["seconds"]["total"]))
        P("job: %s, same hardening flags for every tool; ratios are against docker run --rm"
          % os.path.relpath(cfg.job_file, ROOT))
        L = out["latency"]
        if L:
            P()
            P("Per-job wall time, one job at a time (%d interleaved rounds)" % cfg.latency_runs)
            P("%-44s %9s %9s %6s %15s" % ("", "median", "p95", "ratio", "client CPU/job"))
            for t in cfg.latency_tools:
                x = L[t]
                label = names[t] + (", enqueue->result" if t in WORKERS else "")
                ratio = "%.2f" % x["ratio_vs_docker_run"] if "ratio_vs_docker_run" in x else "-"
                P("%-44s %6.0f ms %6.0f ms %6s %12.1f ms" % (label, x["median_ms"], x["p95_ms"], ratio,
                                                             x["client_cpu_ms_per_job"]))
                if "in_process_median_ms" in x:
                    P("%-44s %6.0f ms" % ("  of which in-process (after import)",
                                          x["in_process_median_ms"]))
        T = out["throughput"]
        if T:
            P()
            P("Throughput, jobs/s (%d jobs per point, %d at concurrency 1, in %d interleaved batches)"
              % (cfg.jobs, cfg.jobs_c1, cfg.batches))
            skipped = [t for t in ALL_TOOLS if t not in cfg.sweep]
            if skipped:
                P("(not swept in this run: %s; BENCH_SWEEP adds them)" % ", ".join(skipped))
            cs = cfg.concurrency
            P("%-32s" % "concurrency" + "".join("%8d" % c for c in cs) + "%8s %6s %13s" % ("best", "ratio", "client CPU/job"))
            for t in cfg.sweep:
                pts, best = T[t]["points"], T[t]["best"]
                how = {"docker-run": "docker run --rm | xargs -P", "ralph-exec": "ralph-exec | xargs -P",
                       "docker-py": "docker-py, thread pool"}.get(t, names[t])
                cpu = statistics.fmean(pts[str(c)]["client_cpu_ms_per_job"] for c in cs)
                P("%-32s" % how + "".join("%8.2f" % pts[str(c)]["jobs_per_s"] for c in cs)
                  + "%8.2f %6s %10.1f ms" % (best["jobs_per_s"],
                                             "%.2f" % best["ratio_vs_docker_run_best"]
                                             if "ratio_vs_docker_run_best" in best else "-", cpu))
            if "docker-run" in T:
                for t in cfg.sweep:
                    if t == "docker-run":
                        continue
                    P("%-32s" % ("  ratio " + t) + "".join("%8.2f" % T[t]["points"][str(c)]["ratio_vs_docker_run"]
                                                       for c in cs))
            P("(best: the highest of the row; its ratio is against the best docker run figure)")
        R = out["worker_peak_rss"]
        if R:
            P()
            P("Worker peak RSS (VmHWM before SIGTERM): " + "; ".join(
                "%s %s" % (k.split("-")[1], ", ".join("c=%s %.1f MiB" % (c, v["vmhwm_kib"] / 1024)
                                                      for c, v in sorted(by.items(), key=lambda kv: int(kv[0]))))
                for k, by in R.items()))
        H = out["headline"]
        if H:
            P()
            P("Headline (lower is better for wall time and latency, higher for throughput):")
            for k, v in H.items():
                P("  %-40s %s" % (k, ("%.1f MiB" % (v / 1024)) if k.endswith("_kib_c8") else "%.2f" % v))
        lk = out["leak_check"]
        P()
        P("Leak check: %d containers created by this run (%s), %d removed; %d volumes of theirs, %d removed"
          % (lk["containers_created"], ", ".join("%s %d" % kv for kv in sorted(lk["by_tool"].items())),
             lk["containers_removed"], lk["volumes"], lk["volumes_removed"]))
        if lk["new_dangling_volumes_unattributed"]:
            P("WARNING: %d dangling volumes appeared during the run that no container of this run mounted"
              " (another user of the engine?): %s" % (len(lk["new_dangling_volumes_unattributed"]),
                                                      " ".join(v[:12] for v in lk["new_dangling_volumes_unattributed"])))
        P("JSON: %s" % os.path.relpath(cfg.out, os.getcwd()))


def main():
    try:
        cfg = Config()
    except BenchError as e:
        log("error: %s" % e)
        return 2
    bench = Bench(cfg)
    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    interrupted = False
    try:
        bench.run()
        return 0
    except BenchError as e:
        log("FAILED: %s" % e)  # a leak is left in place, to be looked at
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        interrupted = True
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup(interrupted)


if __name__ == "__main__":
    sys.exit(main())
