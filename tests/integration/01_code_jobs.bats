#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Code jobs: Python defining calculate(inputs), run by the harness.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

@test "code job: numpy result comes back as output, status success, exit 0" {
    local tid code
    tid=$(rx_tid numpy)
    code=$(cat <<'PY'
import numpy as np

def calculate(inputs):
    a = np.arange(inputs["n"], dtype=np.int64)
    m = np.array(inputs["m"], dtype=float)
    return {
        "sum": int(a.sum()),
        "squares": int((a * a).sum()),
        "det": round(float(np.linalg.det(m)), 6),
        "version_ok": isinstance(np.__version__, str),
    }
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" \
        '{task_id: $id, code: $code, inputs: {n: 1000, m: [[2, 1], [1, 3]]}, timeout: 20}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check --arg id "$tid" '.task_id == $id' 'the task_id is echoed'
    rx_check '.output == {"sum": 499500, "squares": 332833500, "det": 5.0, "version_ok": true}' \
        'numpy computed the right values'
    rx_check '.exit_code == 0 and .error == null' 'exit_code 0, no error'
    rx_check '.engine.api_version | type == "string" and test("^1\\.[0-9]+$")' \
        'engine.api_version is present'
    rx_check '.engine.version | type == "string" and length > 0' 'engine.version is present'
    rx_check '.image == "ralph-sandbox:python"' 'the default image is reported'
    rx_check '.container_id | type == "string" and test("^[0-9a-f]{64}$")' 'container_id'
    rx_check '.duration_ms | type == "number" and . > 0' 'duration_ms'
    rx_check '.limits.timeout == 20 and .limits.network == "none"' 'limits are reported'
    rx_check 'has("removal_error") | not' 'the container was removed without error'
    assert_no_container "$tid"
}

@test "code job: calculate raising ValueError -> status error, exit 1, traceback on stderr" {
    local tid code
    tid=$(rx_tid raise)
    code=$(cat <<'PY'
def helper(x):
    raise ValueError("boom")

def calculate(inputs):
    return helper(inputs)
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: 1}'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.exit_code == 1' 'the harness exits 1'
    rx_check '.output == null' 'no output'
    rx_check '.error | test("ValueError") and test("boom")' 'error names the exception and message'
    rx_check '.stderr | test("Traceback \\(most recent call last\\)")' 'stderr has the traceback'
    rx_check '.stderr | test("in helper") and test("ValueError: boom")' \
        'the traceback shows the raising frame'
    assert_no_container "$tid"
}

@test "code job: the job's own traceback.py and tokenize.py do not replace the harness's modules" {
    # Files in /workspace are importable by the job's code; the harness must
    # not pick them up itself (it reports failures with traceback and strips
    # margins with tokenize).
    local tid code
    tid=$(rx_tid shadow)
    code=$'    def calculate(inputs):\n        raise ValueError("boom")\n'
    rx_job_jq --arg id "$tid" --arg code "$code" \
        '{task_id: $id, code: $code, files: {"traceback.py": "raise SystemExit(42)\n",
          "tokenize.py": "raise SystemExit(43)\n", "linecache.py": "raise SystemExit(44)\n"}}'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.error | test("calculate raised ValueError: boom")' \
        'the margin was stripped and the exception reported by the harness'
    rx_check '.stderr | test("ValueError: boom")' 'the traceback is on stderr'
    assert_no_container "$tid"
}

@test "code job: its code starts only once its whole input is in (300 files, 6 MiB)" {
    # The container starts before the input is copied in (the harness waits
    # for ralph-exec's go-ahead): the job's module level must already see
    # every file, whole, and its inputs; and its stdin is empty.
    local tid code
    tid=$(rx_tid whole-input)
    code=$(cat <<'PY'
import os, sys
SEEN = sorted(f for f in os.listdir("d") if f.endswith(".txt"))
SIZES = {os.path.getsize(os.path.join("d", f)) for f in SEEN}
STDIN = sys.stdin.read()

def calculate(inputs):
    return {"files": len(SEEN), "sizes": sorted(SIZES), "n": inputs["n"], "stdin": STDIN}
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" '
        {task_id: $id, code: $code, inputs: {n: 300},
         files: ([range(300)] | map({key: "d/f\(.).txt", value: ("x" * 20000)}) | from_entries)}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"files": 300, "sizes": [20000], "n": 300, "stdin": ""}' \
        'every file was whole when the code started, and stdin was empty'
    assert_no_container "$tid"
}

@test "code job: without files its input comes on stdin, nothing is copied in; the job sees it as before" {
    # A code job without files skips the archive copy (a re-exec of
    # dockerd on Engine 20.10): the harness gets the code and inputs on
    # stdin and writes them to .ralph itself.  Large and non-ASCII inputs arrive
    # exact, the job's stdin is empty, the files are the job user's.
    local tid code t0 id
    tid=$(rx_tid stdin-input)
    code=$(cat <<'PY'
import json, os, sys
STDIN = sys.stdin.read()

def calculate(inputs):
    here = "/workspace/.ralph"
    with open(os.path.join(here, "inputs.json"), encoding="utf-8") as f:
        same = json.load(f) == inputs
    owners = {os.stat(p).st_uid for p in ("/workspace", here, os.path.join(here, "job.py"))}
    return {"text": inputs["text"], "big": len(inputs["big"]), "stdin": STDIN, "same": same,
            "files": sorted(os.listdir(here)), "owners": sorted(owners), "file": __file__}
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code,
        inputs: {text: "é€😀 \"quoted\"\n", big: ("xy" * 2000000)}}'
    t0=$(date +%s)
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"text": "é€😀 \"quoted\"\n", "big": 4000000, "stdin": "", "same": true,
        "files": ["inputs.json", "job.py"], "owners": [juid], "file": "/workspace/.ralph/job.py"}' \
        'the input came whole, as the files a copy would have made, owned by the job'
    id=$(rx_get .container_id)
    if ! rx_on_podman; then
        # Podman logs no archive events; Docker logs each copy.  The
        # output is always copied out (GET /archive), never read off stdout.
        run rx_engine_actions "$id" "$t0"
        [[ $output == *archive-path* ]] || fail "the output was not copied out: $output"
        [[ $output != *extract-to-dir* ]] || fail "the input was copied in: $output"
        # A file to copy: the archive is used.
        rx_job_jq --arg id "$tid-f" --arg code "$code" '{task_id: $id, code: $code,
            inputs: {text: "t", big: ""}, files: {"a.txt": "a"}}'
        rx_run "$JOB"
        rx_expect success 0
        rx_check '.output.files == ["inputs.json", "job.py"] and .output.owners == [juid]' \
            'the copied input looks the same'
        run rx_engine_actions "$(rx_get .container_id)" "$t0"
        [[ $output == *extract-to-dir* ]] || fail "the job's file was not copied in: $output"
    fi
    assert_no_container "$tid"
    assert_no_container "$tid-f"
}

@test "code job: the workspace is the job's own whatever the image's /workspace is" {
    # The workspace is a tmpfs made for the job, owned by its uid: an image
    # whose /workspace belongs to root cannot take it away from the job.
    local tid img
    tid=$(rx_tid ws-image)
    img=ralph-test-rootws-$$
    rx_build_image "$img" 'FROM ralph-sandbox:python
USER root
RUN chown 0:0 /workspace && chmod 0755 /workspace
USER 65534:65534'
    # 2 MiB of inputs: more than the stream's buffers hold, all read first.
    rx_job_jq --arg id "$tid" --arg img "$img" '{task_id: $id, runtime: $img,
        code: "import os\ndef calculate(i):\n    return [len(i), os.stat(\"/workspace\").st_uid]\n",
        inputs: ("x" * 2097152)}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == [2097152, juid]' 'input on stdin; /workspace belongs to the job uid'
    rx_job_jq --arg id "$tid-f" --arg img "$img" '{task_id: $id, runtime: $img,
        code: "def calculate(i):\n    return i\n", inputs: 7, files: {"a.txt": "a"}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == 7' 'input copied in, output written'
    assert_no_container "$tid"
    assert_no_container "$tid-f"
}

@test "code job: start-up hooks the job supplies never run before its input is in; PYTHONPATH still works" {
    # The harness starts before the input is copied in: a sitecustomize.py
    # on PYTHONPATH or a .pth under HOME must not run then (python3 -I), and
    # PYTHONPATH still reaches the job's code.  cpu_limit slows start-up so
    # that the copy would finish first.
    local tid code
    tid=$(rx_tid startup-hooks)
    code=$(cat <<'PY'
import os, mymod

def calculate(inputs):
    return {"mymod": mymod.X, "hooks": sorted(f for f in os.listdir(".") if f.startswith("ran-"))}
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, cpu_limit: 0.05,
        timeout: 60, env: {PYTHONPATH: "/workspace:/workspace/lib", HOME: "/workspace"},
        files: {"sitecustomize.py": "open(\"/workspace/ran-sitecustomize\", \"w\").close()\n",
                "usercustomize.py": "open(\"/workspace/ran-usercustomize\", \"w\").close()\n",
                ".local/lib/python3.11/site-packages/x.pth":
                    "import os; open(\"/workspace/ran-pth\", \"w\").close()\n",
                "lib/mymod.py": "X = 5\n"}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"mymod": 5, "hooks": []}' \
        'no start-up hook of the job ran, and PYTHONPATH reached the code'
    assert_no_container "$tid"
}

@test "code job: calculate's functions reach spawn and forkserver children (multiprocessing)" {
    local tid code
    tid=$(rx_tid spawn)
    code=$(cat <<'PY'
import multiprocessing as mp

def square(x):
    return x * x

def calculate(inputs):
    out = {}
    for method in ("spawn", "forkserver"):
        with mp.get_context(method).Pool(2) as pool:
            out[method] = pool.map(square, inputs)
    return out
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: [1, 2, 3],
        timeout: 60}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"spawn": [1, 4, 9], "forkserver": [1, 4, 9]}' \
        'children imported the job module by name'
    assert_no_container "$tid"
}

@test "code job: an interpreter that cannot start is the job's error, not the engine's" {
    # The container starts before the harness has its input: python3 missing
    # from the job's PATH ends it before it could take the input (2 MiB on
    # stdin) or the go-ahead (after a copy, with files).  Its exit code decides.
    local tid files
    tid=$(rx_tid nopython)
    for files in '{}' '{"a.txt": "a"}'; do
        rx_job_jq --arg id "$tid" --argjson files "$files" '{task_id: $id,
            code: "def calculate(i):\n    return 1\n", inputs: ("x" * 2097152),
            files: $files, env: {PATH: "/nonexistent"}}'
        rx_run "$JOB"
        rx_expect error 1
        rx_check '.exit_code != null and .exit_code != 0' 'the exit code is reported'
        rx_check '.error | test("exited with code")' 'the error is the exit, not an engine failure'
        assert_no_container "$tid"
    done
}

@test "code job: whole code indented by 4 spaces is accepted" {
    local tid code
    tid=$(rx_tid indent4)
    code=$'    import math\n\n    def calculate(inputs):\n        if inputs["x"] > 0:\n            return {"r": math.sqrt(inputs["x"])}\n        return None\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: {x: 16}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"r": 4.0}' 'the indented code ran'
    assert_no_container "$tid"
}

@test "code job: whole code indented by tabs is accepted" {
    local tid code
    tid=$(rx_tid indenttab)
    code=$'\tdef calculate(inputs):\n\t\ttotal = 0\n\t\tfor v in inputs:\n\t\t\ttotal += v\n\t\treturn {"total": total}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: [1, 2, 3]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"total": 6}' 'the tab-indented code ran'
    assert_no_container "$tid"
}

# A string whose lines look like code (indentation, tabs, a blank line made
# of spaces, a closing quote at column 0) must come back byte-exact.
TEMPLATE=$'def f(x):\n    return x + 1\n\nif True:\n\tpass\n    \nclass A:  # not code\n        deep = """nested"""\n'

@test "code job: multi-line string that looks like code comes back byte-exact" {
    local tid code
    tid=$(rx_tid mlstr)
    code="TEMPLATE = '''${TEMPLATE}'''"$'\n\ndef calculate(inputs):\n    return {"t": TEMPLATE, "n": inputs}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: 7}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check_string .output.t "$TEMPLATE" 'the multi-line string'
    rx_check '.output.n == 7'
    assert_no_container "$tid"
}

@test "code job: indented code with a multi-line string (lines at column 0) is byte-exact" {
    # Code pasted with a 4-space margin; the string's own lines start at
    # column 0, as triple-quoted strings usually do.  Python's rule is that
    # a string literal is exactly what is between the quotes.
    local tid code
    tid=$(rx_tid mlstrind0)
    code="    TEMPLATE = '''${TEMPLATE}'''"$'\n\n    def calculate(inputs):\n        return {"t": TEMPLATE}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check_string .output.t "$TEMPLATE" 'the multi-line string'
    assert_no_container "$tid"
}

@test "code job: indented code with an indented multi-line string is byte-exact" {
    # Every line (the string's too) has at least the 4-space margin: the
    # margin must be taken off the code, never out of the string's value.
    local tid code want
    tid=$(rx_tid mlstrind4)
    want=$'line one\n        def g():\n            return 2\n    \n        end\n        '
    code=$'    def calculate(inputs):\n        s = """'"$want"$'"""\n        return {"t": s}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check_string .output.t "$want" 'the multi-line string'
    assert_no_container "$tid"
}

@test "code job: integers beyond 64 bits in the output are exact (or refused, never altered)" {
    # Python ints are unbounded and json.dumps writes them exactly; the
    # result must carry those digits, or say the output is unusable.
    local tid code want
    tid=$(rx_tid bigint-out)
    code=$'import math\n\ndef calculate(inputs):\n    return {"f25": math.factorial(25), "p70": 2 ** 70, "neg": -(2 ** 70), "i64": 2 ** 63 - 1}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code}'
    rx_run "$JOB"
    if [[ $(rx_get .status) == success ]]; then
        # Raw text: jq itself would round these to doubles.
        for want in '"f25":15511210043330985984000000' '"p70":1180591620717411303424' \
            '"neg":-1180591620717411303424' '"i64":9223372036854775807'; do
            if [[ ${RX_OUT//[[:space:]]/} != *"$want"[,\}]* ]]; then
                echo "raw result output: $(grep -o '"output":{[^}]*}' <<<"$RX_OUT")" >&2
                fail "FAILED: status success but $want is not in the output: the number was altered"
            fi
        done
    else
        rx_expect result_invalid 5
        rx_check '.error | test("integer|range|number")' 'the error says why'
    fi
    assert_no_container "$tid"
}

@test "code job: integers beyond 64 bits in inputs arrive exact (or the job is rejected)" {
    local tid code
    tid=$(rx_tid bigint-in)
    code=$'def calculate(inputs):\n    return {k: str(v) for k, v in inputs.items()}\n'
    # Written as text: building it with jq would round the numbers first.
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: {}}'
    sed -i 's/"inputs":{}/"inputs":{"big":100000000000000000000000000000,"neg":-100000000000000000000000000000,"u64":18446744073709551615}/' "$JOB"
    grep -q '"big":100000000000000000000000000000' "$JOB" || fail "could not write the job"
    rx_run "$JOB"
    if [[ $(rx_get .status) == success ]]; then
        rx_check '.output == {"big": "100000000000000000000000000000",
                              "neg": "-100000000000000000000000000000",
                              "u64": "18446744073709551615"}' 'calculate saw the exact inputs'
    else
        rx_expect rejected 2
        rx_check '.error | test("inputs")' 'the error names inputs'
    fi
    assert_no_container "$tid"
}
