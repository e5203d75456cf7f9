# SPDX-License-Identifier: MIT
"""The baseline ralph-exec is measured against: the same job run through the
Docker SDK for Python (Debian's python3-docker), written the way its
documentation suggests -- create, put_archive, start, wait, read the output,
get_archive, remove -- with the hardening ralph-exec sends
(executor/container_spec.c), and the same harness and workspace layout, so the
container does exactly the same work.

Three deviations from the plain documented calls, forced by the hardening and
by the harness:
  * the log driver is "none" (the engine keeps no copy of a job's output), so
    container.logs() cannot read anything; the output is read from
    container.attach(stream=True), opened before start as `docker run` does;
  * docker-py 5.0.3 has no keyword for CgroupnsMode, so the container is made
    as containers.create() does internally -- api.create_host_config(),
    api.create_container(), containers.get() -- with that one key added.
    Same requests, same order;
  * the harness (run as ralph-exec runs it: python3 -I -B -u -c HARNESS OUT)
    waits on stdin before it reads its input, so the container is created
    with stdin open and its go-ahead byte is written after start.  The input
    is copied in with put_archive before start, in the documented order
    (ralph-exec sends a code job without files its input on stdin instead,
    with no archive call, and copies one with files in after start).  The
    output is copied out with get_archive, as ralph-exec does too.

  dockerpy_exec.py JOB.json                       one job, result JSON on stdout
  dockerpy_exec.py --count N --concurrency P JOB  N copies on a thread pool of
                                                  P (task ids PREFIX-1..N), a
                                                  summary JSON on stdout
Run it with Debian's /usr/bin/python3 (where python3-docker is installed).
"""
import argparse
import io
import json
import os
import socket
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import docker
from docker.types import LogConfig, Mount, Ulimit

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "executor", "harness.py")
WORKSPACE = "/workspace"
MAX_OUTPUT = 1 << 20
MAX_STREAM = 1 << 20


def parse_size(v):
    if isinstance(v, int):
        return v
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    v = v.strip().lower()
    if v and v[-1] in units:
        return int(v[:-1]) * units[v[-1]]
    return int(v)


def input_tar(job):
    """The workspace's input, as ralph-exec lays it out: .ralph/job.py and
    .ralph/inputs.json, owned by the job user."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(name, data, mode=0o644, kind=tarfile.REGTYPE):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.uid = info.gid = 65534
            info.mtime = int(time.time())
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
        add(".ralph", None, 0o755, tarfile.DIRTYPE)
        add(".ralph/job.py", job["code"].encode())
        add(".ralph/inputs.json", json.dumps(job.get("inputs")).encode())
    return buf.getvalue()


def run_job(client, job, harness, labels):
    """Run one code job; return a small result dict (status, output, ...)."""
    t0 = time.monotonic()
    mem = parse_size(job.get("memory_limit", "256m"))
    timeout = float(job.get("timeout", 30))
    out_path = job.get("output_path", "output.json")
    api = client.api
    host_config = api.create_host_config(
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        network_mode="none",
        mem_limit=mem,
        memswap_limit=mem,
        nano_cpus=int(float(job.get("cpu_limit", 1.0)) * 1e9),
        pids_limit=int(job.get("pids_limit", 64)),
        ulimits=[Ulimit(name="nofile", soft=1024, hard=1024),
                 Ulimit(name="fsize", soft=parse_size(job.get("file_size_limit", "64m")),
                        hard=parse_size(job.get("file_size_limit", "64m"))),
                 Ulimit(name="core", soft=0, hard=0)],
        tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=%d,mode=1777" % (64 << 20)},
        ipc_mode="private",
        shm_size=16 << 20,
        init=True,
        privileged=False,
        oom_score_adj=1000,
        mounts=[Mount(WORKSPACE, None, type="volume")],
        log_config=LogConfig(type="none"),
        restart_policy={"Name": "no"},
    )
    host_config["CgroupnsMode"] = "private"  # no keyword for it in docker-py 5
    resp = api.create_container(
        job.get("runtime", "ralph-sandbox:python"),
        command=["python3", "-I", "-B", "-u", "-c", harness.decode(), out_path],
        stdin_open=True,  # docker-py 5 has no keyword for StdinOnce
        entrypoint=[],
        user="65534:65534",
        working_dir=WORKSPACE,
        hostname="sandbox",
        environment=["HOME=/tmp", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"],
        labels=labels,
        # As ralph-exec sends it (no network sandbox is built); docker-py has
        # the keyword, the docker CLI has no flag for it.
        network_disabled=True,
        host_config=host_config,
    )
    container = client.containers.get(resp["Id"])
    try:
        container.put_archive(WORKSPACE, input_tar(job))
        stream = container.attach(stdout=True, stderr=True, stream=True, demux=True)
        go = client.api.attach_socket(container.id, params={"stdin": 1, "stream": 1})
        stdout, stderr = bytearray(), bytearray()

        def drain():  # while wait() keeps the deadline
            for out, err in stream:
                if out and len(stdout) < MAX_STREAM:
                    stdout.extend(out[: MAX_STREAM - len(stdout)])
                if err and len(stderr) < MAX_STREAM:
                    stderr.extend(err[: MAX_STREAM - len(stderr)])
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        container.start()
        raw = getattr(go, "_sock", go)
        raw.sendall(b"\n")  # the harness's go-ahead
        raw.shutdown(socket.SHUT_WR)
        go.close()
        status = "success"
        try:
            waited = container.wait(timeout=timeout)
            exit_code = waited.get("StatusCode")
        except Exception:  # requests' ReadTimeout: past the deadline
            container.kill()
            exit_code, status = None, "timeout"
        reader.join(5)
        output = None
        if status == "success":
            if exit_code != 0:
                status = "error"
            else:
                bits, stat = container.get_archive(WORKSPACE + "/" + out_path)
                data = b"".join(bits)
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    member = tar.next()
                    if member is None or not member.isreg() or member.size > MAX_OUTPUT:
                        status = "result_invalid"
                    else:
                        try:
                            output = json.loads(tar.extractfile(member).read())
                        except ValueError:
                            status = "result_invalid"
        return {"task_id": job.get("task_id"), "status": status, "exit_code": exit_code,
                "output": output, "stdout": stdout.decode("utf-8", "replace"),
                "stderr": stderr.decode("utf-8", "replace"), "container_id": container.id,
                "duration_ms": round((time.monotonic() - t0) * 1000)}
    finally:
        container.remove(v=True, force=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("job")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--task-prefix", default="dockerpy")
    ap.add_argument("--label", action="append", default=[], metavar="K=V")
    args = ap.parse_args()
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    with open(HARNESS, "rb") as f:
        harness = f.read()
    labels = dict(kv.split("=", 1) for kv in args.label)

    if args.count == 0:
        client = docker.from_env()
        result = run_job(client, job, harness, labels)
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        return 0 if result["status"] == "success" else 1

    # A pool of threads, one client (one connection pool) per thread.
    local = threading.local()

    def one(i):
        if not hasattr(local, "client"):
            local.client = docker.from_env()
        j = dict(job, task_id="%s-%d" % (args.task_prefix, i))
        return run_job(local.client, j, harness, labels)

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        results = list(pool.map(one, range(1, args.count + 1)))
    json.dump({"jobs": len(results),
               "statuses": [r["status"] for r in results],
               "outputs": [r["output"] for r in results]}, sys.stdout)
    sys.stdout.write("\n")
    return 0 if all(r["status"] == "success" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
