"""Where a search's study lives, which machine a driver is on, and the lock its drivers share.

    (default)                          STUDY_DIR/study.journal, Optuna's journal file: drivers on one machine
    --storage sqlite:///hp.db          an SQLite file: drivers on one machine
    --storage postgresql://USER@HOST/DB  a PostgreSQL server: drivers on any number of machines

Optuna's storages hold the trials but no lock: two drivers that count the running trials and then ask for
a new one can both see a free slot and both start a trial, one over maxParallelTrials (or one over
maxTrials). So every driver counts and asks under one lock per study, held for a few milliseconds:

    PostgreSQL   pg_advisory_xact_lock(key of the study's name), in a transaction on the driver's own
                 connection; the server drops it if the driver dies (kill -9 included), since its
                 connection closes
    SQLite, the journal file   flock() on a file beside it (the kernel drops it with the process)

Other SQL servers (MySQL, ...) are refused: their drivers would not keep the cap.

A driver is known by its machine: the host name, the boot id and the pid namespace, since a pid means
something only in the pid namespace it comes from (two containers may share a host name, or a pid).
HPTUNE_MACHINE overrides it (tests use it to make drivers on one machine see each other as on separate ones).
"""
import contextlib
import fcntl
import hashlib
import os
import re
import socket

from .hpconfig import SearchError

SCHEMES = ("sqlite", "postgresql")  # and postgresql+DRIVER (psycopg, psycopg2, ...)
CONNECT_TIMEOUT = 10  # seconds


def machine():
    if os.environ.get("HPTUNE_MACHINE"):
        return os.environ["HPTUNE_MACHINE"]
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            parts.append(f.read().strip()[:8])
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:  # not Linux: the host name alone
        pass
    return "/".join(parts)


def url_problem(url):
    """What is wrong with a --storage value (None if nothing); no driver imported, no connection made."""
    m = re.match(r"^([a-z0-9]+)(\+[a-z0-9_]+)?://(.*)$", url)
    if not m:
        return f"--storage {url!r} is not an SQL URL (sqlite:///path.db, postgresql://user@host/db)"
    if m.group(1) not in SCHEMES:
        return (f"--storage {m.group(1)}://...: this driver keeps the parallel cap on PostgreSQL and SQLite only "
                "(postgresql://user@host/db, sqlite:///path.db)")
    if m.group(1) == "sqlite" and m.group(3) in ("", "/", "/:memory:"):
        return f"--storage {url!r} is an in-memory database that no other driver can see: give a file, sqlite:///hp.db"
    return None


def sql_url(url):
    """A plain postgresql:// URL means SQLAlchemy's psycopg2; use psycopg 3 where psycopg2 is absent."""
    if url.startswith("postgresql://"):
        import importlib.util
        if importlib.util.find_spec("psycopg2") is None:
            return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def shown(url):
    """The URL as printed (errors, the report): without its password."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def engine_kwargs(url):
    """SQLAlchemy's connection arguments: SQLite waits for the file's lock (several drivers write); libpq gives
    up on a server that does not answer within CONNECT_TIMEOUT (it would wait for ever on one that accepts
    the connection and stays silent), unless the URL sets its own connect_timeout."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    return {} if "connect_timeout=" in url else {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}


def foreign_tables(url, kwargs):
    """Another program's tables in the database at url, sorted; [] for an empty database or Optuna's (it has
    version_info). Optuna would add its 12 tables beside another program's and then fail on a name both use
    (`studies`): the database is looked at, and refused, before anything is written."""
    import sqlalchemy
    engine = sqlalchemy.create_engine(url, **kwargs)
    try:
        names = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return [] if not names or "version_info" in names else sorted(names)


def open_storage(url, study_dir, optuna):
    """-> (storage, the name the report gives it, its path or None for a server)."""
    if url is None:
        os.makedirs(study_dir, exist_ok=True)
        path = os.path.join(study_dir, "study.journal")
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path)), path, path
    kwargs = engine_kwargs(url)
    for attempt in range(3):
        try:
            foreign = foreign_tables(sql_url(url), kwargs)
            if foreign:
                raise SearchError(f"--storage {shown(url)} holds another program's tables ({', '.join(foreign[:6])}"
                                  f"{', ...' if len(foreign) > 6 else ''}): give an empty database, or the one of "
                                  "an Optuna study")
            storage = optuna.storages.RDBStorage(sql_url(url), engine_kwargs=kwargs)
            break
        except SearchError:
            raise
        except ImportError:
            raise SearchError(f"--storage {shown(url)}: no Python driver for it; pip install 'psycopg[binary]' "
                              "(PostgreSQL)") from None
        except Exception as e:  # a server down, a bad password; or tables created by two drivers at once
            if attempt == 2 or "already exists" not in str(e) and "duplicate key" not in str(e):
                why = str(e).strip().splitlines()[0]
                if "timeout expired" in why:
                    why += f" (no answer within {CONNECT_TIMEOUT} s: is a PostgreSQL server listening there?)"
                raise SearchError(f"cannot open --storage {shown(url)}: {why}") from None
    path = storage.engine.url.database if url.startswith("sqlite") else None
    return storage, shown(url), path


def lost_storage_errors(optuna):
    """The exceptions that mean the storage went away (a server stopped, a network cut)."""
    errors = [optuna.exceptions.StorageInternalError]
    try:
        import sqlalchemy.exc
        errors.append(sqlalchemy.exc.OperationalError)
    except ImportError:
        pass
    return tuple(errors)


def study_lock(storage, path, study_name):
    """A context manager: the study's lock, exclusive across every driver of the study."""
    if path is not None:
        return _FileLock(path + ".hptune-lock")
    return _AdvisoryLock(storage.engine, study_name)


class _FileLock:
    def __init__(self, path):
        self.path, self.fd = path, None

    def __enter__(self):
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


class _AdvisoryLock:
    """PostgreSQL's advisory lock on a 64-bit key made from the study's name; one connection per driver."""

    def __init__(self, engine, study_name):
        digest = hashlib.sha256(b"trainer.hptune:" + study_name.encode()).digest()
        self.engine, self.key, self.conn = engine, int.from_bytes(digest[:8], "big", signed=True), None

    def __enter__(self):
        import sqlalchemy
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = self.engine.connect()
                self.conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.key})
                return self
            except sqlalchemy.exc.DBAPIError:  # the server restarted: a new connection, once
                with contextlib.suppress(Exception):
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def __exit__(self, *exc):
        self.conn.commit()  # the transaction's end releases the lock
