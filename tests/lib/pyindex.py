#!/usr/bin/env python3
"""pyindex.py: a PEP 503 "simple" package index on loopback, for the tests.

    python3 tests/lib/pyindex.py [--port 0] --dir DIR [--port-file FILE]

At start it makes its own packages into DIR/files (nothing is downloaded;
the files are byte-for-byte the same on every start), then serves on
127.0.0.1:PORT (0: any free port) until killed:

    /simple/                 the projects
    /simple/<project>/       the project's files, each link with #sha256=...
    /files/<file>            a file
    anything else            404 (so does an unknown project)

Once it listens it writes the port to FILE (atomically, with a newline).
Every request's path is appended to DIR/requests.log, one per line, flushed
at once, 404s included: a test can tell what pip asked for.  While a file
DIR/files-delay-ms exists, each /files/ request is answered that many
milliseconds late (a test that needs a build slower than something).

The packages:

    tinypkg 1.0, 2.0   wheels (py3-none-any); `tinypkg.VERSION` is the
                       version string, `tinypkg.hello()` returns
                       "hello from tinypkg"; 2.0 requires tinydep
    tinydep 1.0        wheel; `tinydep.VALUE == 42`
    sdistonly 1.0      only an sdist, sdistonly-1.0.tar.gz, with an in-tree
                       PEP 517 backend (backend.py, no build requirements)
                       whose build_wheel writes the marker file
                       /tmp/ralph-sdist-ran, plants setuid/setgid files in
                       the installer's target (sdistonly-planted, and
                       sdistonly-hidden/planted in a directory it makes
                       unreadable) and makes a wheel with
                       `sdistonly.VALUE == "built"`

Python 3 standard library only.
"""

import argparse
import gzip
import hashlib
import html
import io
import os
import re
import signal
import sys
import tarfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The wheel maker and the PEP 517 backend in one piece of source: the index
# runs it to make its wheels, and the same text is sdistonly's backend.py.
BACKEND = r'''
"""An in-tree PEP 517 backend with no build requirements (standard library
only): builds this project's wheel from the package directory next to it."""
import base64
import glob
import hashlib
import os
import zipfile

MARKER = "/tmp/ralph-sdist-ran"
# Fixed timestamp: the same input makes the same bytes.
DATE_TIME = (2020, 1, 1, 0, 0, 0)


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def metadata_text(name, version, requires=()):
    lines = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version]
    lines += ["Requires-Dist: " + r for r in requires]
    return "\n".join(lines) + "\n"


WHEEL_TEXT = ("Wheel-Version: 1.0\nGenerator: ralph-exec-pyindex\n"
              "Root-Is-Purelib: true\nTag: py3-none-any\n")


def make_wheel(directory, name, version, files, requires=()):
    """Write NAME-VERSION-py3-none-any.whl into directory; files maps a
    path in the wheel (e.g. "pkg/__init__.py") to its text. Returns the
    wheel's file name."""
    dist_info = "%s-%s.dist-info" % (name, version)
    entries = sorted(files.items())
    entries.append((dist_info + "/METADATA", metadata_text(name, version, requires)))
    entries.append((dist_info + "/WHEEL", WHEEL_TEXT))
    filename = "%s-%s-py3-none-any.whl" % (name, version)
    record = []
    path = os.path.join(directory, filename)
    with zipfile.ZipFile(path + ".part", "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, text in entries:
            data = text.encode("utf-8")
            info = zipfile.ZipInfo(arcname, DATE_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            record.append("%s,%s,%d" % (arcname, _record_hash(data), len(data)))
        record.append(dist_info + "/RECORD,,")
        info = zipfile.ZipInfo(dist_info + "/RECORD", DATE_TIME)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, "\n".join(record) + "\n")
    os.replace(path + ".part", path)
    return filename


# --- PEP 517 hooks (used when this text is a source tree's backend.py) ----

def _project():
    """(name, version, files) of the source tree this backend lives in."""
    here = os.path.dirname(os.path.abspath(__file__))
    name = version = None
    with open(os.path.join(here, "PKG-INFO"), encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Name":
                name = value.strip()
            elif key == "Version":
                version = value.strip()
    files = {}
    top = os.path.join(here, name)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, here).replace(os.sep, "/")
                with open(full, encoding="utf-8") as f:
                    files[rel] = f.read()
    return name, version, files


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, _ = _project()
    dist_info = "%s-%s.dist-info" % (name, version)
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(metadata_text(name, version))
    with open(os.path.join(metadata_directory, dist_info, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(WHEEL_TEXT)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    # The marker: a test checks whether an sdist's build code ran.
    try:
        with open(MARKER, "a", encoding="utf-8") as f:
            f.write("built by pid %d as uid %d\n" % (os.getpid(), os.getuid()))
    except OSError as e:
        print("backend.py: cannot write %s: %s" % (MARKER, e))
    # What hostile build code could do where the installer puts packages
    # (ralph-pip-install's target, writable by the build): plant setuid and
    # setgid files, one in a directory it makes unreadable; the installer
    # must leave none of those bits for the job's image.
    for site in glob.glob("/out/usr/local/lib/python3*/dist-packages"):
        try:
            planted = os.path.join(site, "sdistonly-planted")
            hidden = os.path.join(site, "sdistonly-hidden")
            os.makedirs(hidden, exist_ok=True)
            for path in (planted, os.path.join(hidden, "planted")):
                with open(path, "w", encoding="utf-8") as f:
                    f.write("#!/bin/sh\nid\n")
                os.chmod(path, 0o6755)
            os.chmod(hidden, 0o2000)
        except OSError as e:
            print("backend.py: cannot plant in %s: %s" % (site, e))
    name, version, files = _project()
    return make_wheel(wheel_directory, name, version, files)
'''

_backend = {"__name__": "pyindex_backend", "__file__": "backend.py"}
exec(compile(BACKEND, "backend.py", "exec"), _backend)  # pylint: disable=exec-used
make_wheel = _backend["make_wheel"]


def tinypkg_init(version):
    return ('"""tinypkg %s: a test package of ralph-exec\'s pyindex."""\n'
            'VERSION = "%s"\n\n\n'
            'def hello():\n'
            '    return "hello from tinypkg"\n' % (version, version))


# (name, version, files, requires) of the wheels.
WHEELS = [
    ("tinypkg", "1.0", {"tinypkg/__init__.py": tinypkg_init("1.0")}, []),
    ("tinypkg", "2.0", {"tinypkg/__init__.py": tinypkg_init("2.0")}, ["tinydep>=1.0"]),
    ("tinydep", "1.0", {"tinydep/__init__.py": '"""tinydep: a dependency of tinypkg 2.0."""\nVALUE = 42\n'}, []),
]

SDIST_PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "sdistonly"
version = "1.0"
"""


def make_sdist(directory, name, version, files):
    """Write NAME-VERSION.tar.gz (PKG-INFO, pyproject.toml, backend.py and
    files) into directory, reproducibly. Returns its file name."""
    top = "%s-%s" % (name, version)
    members = {
        "PKG-INFO": _backend["metadata_text"](name, version),
        "pyproject.toml": SDIST_PYPROJECT,
        "backend.py": BACKEND.lstrip("\n"),
    }
    members.update(files)
    filename = top + ".tar.gz"
    path = os.path.join(directory, filename)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs = sorted({os.path.dirname(p) for p in members if os.path.dirname(p)})
        for d in [""] + dirs:
            info = tarfile.TarInfo(top + ("/" + d if d else ""))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1577836800
            tf.addfile(info)
        for arcname, text in sorted(members.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(top + "/" + arcname)
            info.size, info.mode, info.mtime = len(data), 0o644, 1577836800
            tf.addfile(info, io.BytesIO(data))
    with open(path + ".part", "wb") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
            gz.write(raw.getvalue())
    os.replace(path + ".part", path)
    return filename


def normalize(name):
    """PEP 503 project name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def make_packages(files_dir):
    """Make every package; returns {project: [(file name, sha256 hex)]}."""
    os.makedirs(files_dir, exist_ok=True)
    made = []
    for name, version, files, requires in WHEELS:
        made.append((name, make_wheel(files_dir, name, version, files, requires)))
    made.append(("sdistonly", make_sdist(
        files_dir, "sdistonly", "1.0",
        {"sdistonly/__init__.py": '"""sdistonly: built from its sdist only."""\nVALUE = "built"\n'})))
    projects = {}
    for name, filename in made:
        with open(os.path.join(files_dir, filename), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        projects.setdefault(normalize(name), []).append((filename, digest))
    return projects


def page(title, links):
    body = "".join('    <a href="%s">%s</a><br/>\n' % (html.escape(href), html.escape(text))
                   for href, text in links)
    return ('<!DOCTYPE html>\n<html>\n  <head><meta name="pypi:repository-version" content="1.0">'
            "<title>%s</title></head>\n  <body>\n%s  </body>\n</html>\n"
            % (html.escape(title), body)).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server_version = "ralph-pyindex/1"
    projects = {}
    files_dir = ""
    delay_file = ""
    log_file = None
    log_lock = threading.Lock()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # quiet: requests.log is the record

    def _send(self, code, body, ctype="text/html; charset=utf-8", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        with self.log_lock:
            self.log_file.write(self.path + "\n")
            self.log_file.flush()
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if parts == ["simple"]:
            if not path.endswith("/"):
                return self._send(301, b"", extra={"Location": "/simple/"})
            links = [("/simple/%s/" % p, p) for p in sorted(self.projects)]
            return self._send(200, page("Simple index", links))
        if len(parts) == 2 and parts[0] == "simple":
            project = normalize(parts[1])
            if project not in self.projects:
                return self._send(404, b"no such project\n", "text/plain")
            if parts[1] != project or not path.endswith("/"):
                return self._send(301, b"", extra={"Location": "/simple/%s/" % project})
            links = [("/files/%s#sha256=%s" % (fn, digest), fn)
                     for fn, digest in self.projects[project]]
            return self._send(200, page("Links for " + project, links))
        if len(parts) == 2 and parts[0] == "files":
            names = {fn for files in self.projects.values() for fn, _ in files}
            if parts[1] in names:
                try:
                    with open(self.delay_file, encoding="utf-8") as f:
                        time.sleep(int(f.read().strip() or 0) / 1000)
                except FileNotFoundError:
                    pass
                with open(os.path.join(self.files_dir, parts[1]), "rb") as f:
                    return self._send(200, f.read(), "application/octet-stream")
        return self._send(404, b"not found\n", "text/plain")

    def do_GET(self):  # pylint: disable=invalid-name
        self._route()

    def do_HEAD(self):  # pylint: disable=invalid-name
        self._route()


def main():
    ap = argparse.ArgumentParser(description="A PEP 503 simple index on 127.0.0.1 for the tests.")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    ap.add_argument("--dir", required=True, help="directory for the packages and requests.log")
    ap.add_argument("--port-file", help="write the port here once listening")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    Handler.files_dir = os.path.join(args.dir, "files")
    Handler.delay_file = os.path.join(args.dir, "files-delay-ms")
    Handler.projects = make_packages(Handler.files_dir)
    Handler.log_file = open(os.path.join(args.dir, "requests.log"), "a", encoding="utf-8")  # pylint: disable=consider-using-with

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("pyindex: serving %s on http://127.0.0.1:%d/simple/" % (args.dir, port), file=sys.stderr, flush=True)

    def stop(signum, frame):  # pylint: disable=unused-argument
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
