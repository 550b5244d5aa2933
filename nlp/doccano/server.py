"""Install, start and stop a local doccano server (``policy-nlp doccano install|serve|stop``).

doccano lives in its own virtual environment under the cache folder, made with the system
``python3``: its pins (pydantic 2, Django 4) cannot share the project's venv (pydantic 1 for
doccano-client). The server is two processes, both bound to or talking to 127.0.0.1 only:

- gunicorn serving ``config.wsgi`` (``doccano webserver`` would bind 0.0.0.0);
- the celery worker (``doccano task``), which uploads, exports and ``/v1/health/`` wait on;
  its broker is the same SQLite database, so no Redis is needed.

Everything the server writes stays in the data folder the user chooses: the database,
uploaded media, logs, the secret key (0600) and ``server.json`` (pids and URL), which
``stop`` reads. The admin password goes to the user-creation step on standard input, never
on a command line (visible in ``ps``) and never in a log.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

DOCCANO_VERSION = "1.8.4"
# doccano 1.8.4 installs numpy 2 and marshmallow 4 by default and then fails at run time.
REQUIREMENTS = [f"doccano=={DOCCANO_VERSION}", "numpy<2", "marshmallow<4"]
MARKER = "policy-nlp-install.json"
STATE_FILE = "server.json"
DEFAULT_PORT = 8000
START_TIMEOUT = 90.0


class ServerError(RuntimeError):
    """An expected failure (not installed, port taken, start failed): the message says what to do."""


# --- where things are -------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("POLICY_NLP_CACHE") or Path.home() / ".cache" / "policy-nlp").expanduser()


def venv_dir() -> Path:
    return cache_dir() / "doccano-venv"


def default_data_dir() -> Path:
    return Path(os.environ.get("POLICY_NLP_DOCCANO_DATA") or "doccano-data")


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise ServerError(f"{venv}: no site-packages; reinstall with `policy-nlp doccano install --force`")
    return found[0]


def backend_dir(venv: Optional[Path] = None) -> Path:
    return _site_packages(venv or venv_dir()) / "backend"


def is_installed(venv: Optional[Path] = None) -> bool:
    """True when a finished install of the pinned requirements is there (the marker is written last)."""
    marker = (venv or venv_dir()) / MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("requirements") == REQUIREMENTS
    except (OSError, ValueError):
        return False


# --- install ----------------------------------------------------------------------------------

def system_python() -> str:
    """The ``python3`` on PATH outside the project's venv (doccano must not see its packages)."""
    override = os.environ.get("POLICY_NLP_DOCCANO_PYTHON")
    if override:
        return override
    own = Path(sys.prefix).resolve()
    dirs = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        try:
            inside = sys.prefix != sys.base_prefix and own in Path(entry).resolve().parents
        except OSError:
            inside = False
        if entry and not inside:
            dirs.append(entry)
    found = shutil.which("python3", path=os.pathsep.join(dirs))
    if not found:
        raise ServerError("no python3 on PATH to make doccano's venv with; set POLICY_NLP_DOCCANO_PYTHON")
    return found


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One install at a time (two test sessions or CI steps may race on a cold cache)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(force: bool = False, log=print) -> Path:
    """Make the doccano venv under the cache folder unless a finished one is there; return its path."""
    venv = venv_dir()
    with _lock(cache_dir() / "doccano-install.lock"):
        if is_installed(venv) and not force:
            return venv
        python = system_python()
        check = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        version = check.stdout.strip()
        if check.returncode or not version or not (3, 8) <= tuple(map(int, version.split("."))) < (3, 12):
            raise ServerError(f"{python}: doccano {DOCCANO_VERSION} needs Python 3.8-3.11, found {version or '?'}; "
                              f"set POLICY_NLP_DOCCANO_PYTHON")
        # An unfinished venv (no marker) is thrown away rather than trusted.
        if venv.exists():
            shutil.rmtree(venv)
        logfile = cache_dir() / "doccano-install.log"
        log(f"installing doccano {DOCCANO_VERSION} into {venv} with {python} (Python {version}); "
            f"this takes a few minutes once, then it is cached (log: {logfile})")
        started = time.monotonic()
        with open(logfile, "w", encoding="utf-8") as out:
            for step in ([python, "-m", "venv", str(venv)],
                         [str(venv / "bin" / "python"), "-m", "pip", "install", *REQUIREMENTS]):
                out.write(f"$ {' '.join(step)}\n")
                out.flush()
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode:
                    raise ServerError(f"installing doccano failed at `{' '.join(step)}`; see {logfile}:\n"
                                      + _tail(logfile))
        smoke = subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import numpy, marshmallow, gunicorn, celery, backend"],
                               capture_output=True, text=True)
        if smoke.returncode:
            raise ServerError(f"doccano was installed but does not import:\n{smoke.stderr[-2000:]}")
        (venv / MARKER).write_text(json.dumps({
            "requirements": REQUIREMENTS, "python": python, "python_version": version,
            "seconds": round(time.monotonic() - started, 1)}, indent=1), encoding="utf-8")
        log(f"doccano installed in {time.monotonic() - started:.0f} s")
        return venv


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the data folder --------------------------------------------------------------------------

def _secret_key(data: Path) -> str:
    path = data / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def server_env(data: Path, venv: Optional[Path] = None) -> dict:
    """The environment doccano's processes run in; everything points into ``data``."""
    venv = venv or venv_dir()
    data = data.resolve()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOCCANO_", "DJANGO_", "PYTHON")) and k not in ("VIRTUAL_ENV", "DATABASE_URL")}
    env.update({
        "DOCCANO_HOME": str(data),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "STANDALONE": "True",
        "DEBUG": "False",
        # Without it doccano writes its database inside site-packages.
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "MEDIA_ROOT": str(data / "media"),
        "SECRET_KEY": _secret_key(data),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class ServerInfo:
    url: str
    port: int
    data: Path
    pids: dict


def read_state(data: Path) -> Optional[ServerInfo]:
    try:
        raw = json.loads((data / STATE_FILE).read_text(encoding="utf-8"))
        return ServerInfo(raw["url"], int(raw["port"]), data, dict(raw["pids"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int, expect: str) -> bool:
    """Running (not a zombie) and still the process we started (its command line names ``expect``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and expect in cmdline


_EXPECT = {"web": "gunicorn", "worker": "doccano"}


def running(data: Path) -> Optional[ServerInfo]:
    info = read_state(data)
    if info and any(_alive(pid, _EXPECT.get(name, "")) for name, pid in info.pids.items()):
        return info
    return None


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- serve / stop -----------------------------------------------------------------------------

_CREATE_USER = r"""
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
spec = json.loads(sys.stdin.read())
User = get_user_model()
user, created = User.objects.get_or_create(username=spec["username"], defaults={"email": spec["email"]})
user.is_superuser = user.is_staff = True
user.set_password(spec["password"])   # re-running resets the password, like `doccano createuser`
user.save()
print("created" if created else "updated")
"""


def _run_backend(args: list[str], env: dict, data: Path, stdin: Optional[str] = None, what: str = "") -> str:
    venv = venv_dir()
    result = subprocess.run(args, env=env, cwd=backend_dir(venv), input=stdin, capture_output=True, text=True)
    with open(data / "logs" / "setup.log", "a", encoding="utf-8") as log:
        log.write(f"$ {what or args[-1]}\n{result.stdout}{result.stderr}\n")
    if result.returncode:
        raise ServerError(f"doccano {what} failed (exit {result.returncode}); see {data / 'logs' / 'setup.log'}:\n"
                          + "\n".join((result.stdout + result.stderr).splitlines()[-15:]))
    return result.stdout


def ensure_user(data: Path, username: str, password: str, email: str = "") -> None:
    """Create the admin user or reset its password (the password travels on stdin)."""
    env = server_env(data)
    spec = json.dumps({"username": username, "password": password, "email": email or f"{username}@localhost"})
    _run_backend([str(venv_dir() / "bin" / "python"), "-c", _CREATE_USER], env, data, stdin=spec,
                 what=f"user setup for {username!r}")


def _needs_init(data: Path) -> bool:
    """Migrations run when the database is new or was made by another doccano version."""
    stamp = data / "initialized.json"
    try:
        return json.loads(stamp.read_text(encoding="utf-8")).get("doccano") != DOCCANO_VERSION \
            or not (data / "db.sqlite3").exists()
    except (OSError, ValueError):
        return True


def _init_database(data: Path, env: dict, venv: Path) -> None:
    """Migrate the database; a new one starts as a copy of a migrated template (saves ~15 s)."""
    db = data / "db.sqlite3"
    template = venv / "policy-nlp-template.sqlite3"   # inside the venv: a reinstall drops it
    if not db.exists() and template.exists():
        shutil.copyfile(template, db)
    fresh = not db.exists()
    # Run even on a copy: cheap when there is nothing to migrate, and it creates the roles.
    _run_backend([str(venv / "bin" / "doccano"), "init"], env, data, what="init (database migrations)")
    if fresh:
        tmp = template.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(db, tmp)
        os.replace(tmp, template)
    (data / "initialized.json").write_text(json.dumps({"doccano": DOCCANO_VERSION}), encoding="utf-8")


def serve(data: Path, port: int = DEFAULT_PORT, username: str = "", password: str = "", email: str = "",
          workers: int = 2, timeout: float = START_TIMEOUT, log=print) -> ServerInfo:
    """Start doccano in the background on 127.0.0.1:port with its data in ``data``; wait until healthy."""
    if not is_installed():
        raise ServerError(f"doccano is not installed in {venv_dir()}; run `policy-nlp doccano install` "
                          f"(`policy-nlp doccano serve` installs it on first use)")
    data = Path(data).resolve()
    if not data.exists():
        data.mkdir(parents=True, mode=0o700)   # the database holds password hashes
    (data / "logs").mkdir(parents=True, exist_ok=True)
    (data / "media").mkdir(exist_ok=True)
    current = running(data)
    if current:
        if current.port != port:
            raise ServerError(f"a doccano server for {data} already runs at {current.url}; "
                              f"stop it first (`policy-nlp doccano stop --data {data}`)")
        if username and password:
            ensure_user(data, username, password, email)
        log(f"doccano already running at {current.url} (data {data})")
        return current
    if not port_free(port):
        raise ServerError(f"port {port} on 127.0.0.1 is in use; choose another with --port")
    env = server_env(data)
    venv = venv_dir()
    started = time.monotonic()
    if _needs_init(data):
        _init_database(data, env, venv)
    if username and password:
        ensure_user(data, username, password, email)
    url = f"http://127.0.0.1:{port}"
    pids = {}
    commands = {
        "worker": [str(venv / "bin" / "doccano"), "task", "--concurrency", "1"],
        "web": [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                "--timeout", "120", "--chdir", str(backend_dir(venv)), "config.wsgi"],
    }
    def launch(name: str) -> int:
        with open(data / "logs" / f"{name}.log", "ab") as out:
            # A new session: the server outlives this command, and stop() signals the whole group.
            process = subprocess.Popen(commands[name], env=env, cwd=backend_dir(venv), stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        pids[name] = process.pid
        (data / STATE_FILE).write_text(json.dumps({"url": url, "port": port, "pids": pids,
                                                   "doccano": DOCCANO_VERSION}, indent=1), encoding="utf-8")
        return process.pid

    for name in commands:
        launch(name)
    info = ServerInfo(url, port, data, pids)
    try:
        wait_healthy(info, timeout, restart=launch)
    except ServerError:
        stop(data, log=lambda *_: None)
        raise
    log(f"doccano {DOCCANO_VERSION} running at {url} (data {data}, started in {time.monotonic() - started:.1f} s); "
        f"stop it with `policy-nlp doccano stop --data {data}`")
    return info


# celery's SQLite transport creates its queue rows from two connections at start; on a first start
# they can collide (UNIQUE constraint failed: kombu_queue.name) and the worker exits. The rows are
# there after that, so starting the worker again succeeds.
_RACE = "UNIQUE constraint failed: kombu_queue.name"


def wait_healthy(info: ServerInfo, timeout: float = START_TIMEOUT, restart=None) -> None:
    """Poll ``/v1/health/`` (it checks the database, storage and the celery worker); a worker lost to
    celery's start-up race is started again (``restart(name)`` returns the new pid), twice at most."""
    import requests

    deadline = time.monotonic() + timeout
    last = "no answer"
    restarts = 0
    while time.monotonic() < deadline:
        for name, pid in list(info.pids.items()):
            if not _alive(pid, _EXPECT[name]):
                log = info.data / "logs" / f"{name}.log"
                tail = _tail(log)
                if restart is not None and name == "worker" and _RACE in tail and restarts < 2:
                    _reap([pid])
                    info.pids[name] = restart(name)
                    restarts += 1
                    continue
                raise ServerError(f"doccano's {name} process exited during start; see {log}:\n{tail}")
        try:
            response = requests.get(f"{info.url}/v1/health/", headers={"Accept": "application/json"}, timeout=10)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except requests.RequestException as e:
            last = type(e).__name__
        time.sleep(0.5)
    raise ServerError(f"doccano at {info.url} was not healthy after {timeout:.0f} s ({last}); "
                      f"see {info.data / 'logs'}")


def stop(data: Path, timeout: float = 20.0, log=print) -> bool:
    """Stop the server whose pids ``data/server.json`` records; False when none was running."""
    data = Path(data).resolve()
    info = read_state(data)
    if info is None:
        log(f"no doccano server recorded in {data}")
        return False
    live = {name: pid for name, pid in info.pids.items() if _alive(pid, _EXPECT.get(name, "\0"))}
    for pid in live.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid, _EXPECT[name]) for name, pid in live.items()):
        _reap(live.values())
        time.sleep(0.2)
    for name, pid in live.items():
        if _alive(pid, _EXPECT[name]):
            _signal_group(pid, signal.SIGKILL)
    time.sleep(0.2)
    _reap(live.values())
    (data / STATE_FILE).unlink(missing_ok=True)
    log(f"stopped doccano at {info.url}" if live else f"doccano at {info.url} was not running; cleaned up")
    return bool(live)


def _signal_group(pid: int, sig: int) -> None:
    # Each process leads its own session (start_new_session), so its group holds its workers too.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pids) -> None:
    """Collect the server processes if they are our own children (serve() ran in this process)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:   # not our child: init reaps it
            pass
