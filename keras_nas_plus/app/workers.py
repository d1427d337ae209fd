"""`search.workers`: several trials at once on one machine.

`keras-nas-plus search` with `search.workers: N` (N >= 2) runs Keras Tuner's
chief/worker mode on the loopback interface: the search process becomes the
chief (it holds the oracle, serves it over gRPC and keeps the time budget,
`keras_nas_plus.engine.chief`) and starts N worker processes,

    keras_nas_plus._workers.run_worker(RUN_DIRECTORY)

each with `KERASTUNER_TUNER_ID=worker<k>`, that read the run's `config.json`,
load the same data and train one trial at a time. Their output goes to
`RUN_DIRECTORY/workers/worker<k>.log`. When the search has ended the workers
have exited, and the chief runs the final phase alone.

On one GPU, trials overlap: while one worker's trial is compiled by XLA (CPU
work), another's trains on the device.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time


WORKERS_DIR = "workers"
_ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def free_port():
    """A TCP port of 127.0.0.1 that is free now (int)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_grpc():
    """Raises ImportError naming the packages when gRPC is missing."""
    try:
        import grpc  # noqa: F401
        from keras_tuner.src import protos  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "search.workers >= 2 uses Keras Tuner's chief/worker mode, which needs grpcio and protobuf "
            f"(pip install grpcio protobuf; TensorFlow installs both): {e}"
        ) from e


@contextlib.contextmanager
def chief_environment(port):
    """Makes this process Keras Tuner's chief on 127.0.0.1:`port`, and restores the environment after."""
    saved = {key: os.environ.get(key) for key in _ENV_KEYS}
    os.environ.update(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1",
                      KERASTUNER_ORACLE_PORT=str(port))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_workers(directory, count, port):
    """Starts `count` worker processes on the run in `directory`.

    Returns:
        (processes, logs): dicts `{tuner_id: subprocess.Popen}` and
        `{tuner_id: log path}`.
    """
    logdir = os.path.join(directory, WORKERS_DIR)
    os.makedirs(logdir, exist_ok=True)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python_path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    processes, logs = {}, {}
    for k in range(count):
        tuner_id = f"worker{k}"
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port), PYTHONPATH=python_path, PYTHONUNBUFFERED="1")
        logs[tuner_id] = os.path.join(logdir, f"{tuner_id}.log")
        with open(logs[tuner_id], "a") as log:
            processes[tuner_id] = subprocess.Popen(
                [sys.executable, "-c", "import sys; from keras_nas_plus.app.worker import run_worker; "
                 "run_worker(sys.argv[1])", os.path.abspath(directory)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
    return processes, logs


def stop_workers(processes, timeout=30.0):
    """Terminates the workers still running (SIGTERM, then SIGKILL after `timeout` seconds)."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def exit_with_parent(poll_seconds=1.0):
    """Ends this worker when the chief that started it dies (e.g. SIGKILLed).

    Otherwise the worker would wait for the dead chief's gRPC server (Keras
    Tuner waits up to an hour) and hold its memory; the restarted search
    starts new workers.
    """
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="keras-nas-plus-parent-watch", daemon=True).start()
