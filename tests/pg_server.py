"""A throw-away PostgreSQL server for the tests: Debian's binaries, a temporary data directory, a Unix socket
in a temporary folder (no TCP port, so nothing else on the machine can reach it or clash with it).

    server = pg_server.start()        # or pytest.skip(reason) when there is no PostgreSQL
    url = server.create_database("study1")   # postgresql://hptune@/study1?host=/tmp/...
    server.stop()

The server refuses to run as root: as root (the tests' and CI's user here) initdb and postgres run as the
`postgres` user that Debian's package creates. Stopped by its own pid (SIGINT: PostgreSQL's fast shutdown).
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

USER = "hptune"  # the database's superuser, trusted on the socket only


def binaries():
    """The folder of initdb and postgres, or None."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "postgres")):
            return folder
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb and shutil.which("postgres") else None


def missing():
    """Why no server can be started here (a reason for pytest.skip), or None."""
    if binaries() is None:
        return "PostgreSQL's initdb/postgres not found (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "no psycopg (pip install 'psycopg[binary]')"
    return None


def _as_server_user():
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        return entry.pw_uid, entry.pw_gid
    return None


class Server:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="hptune-pg-")
        os.chmod(self.root, 0o755)
        self.data, self.socket = os.path.join(self.root, "data"), os.path.join(self.root, "socket")
        os.makedirs(self.socket)
        ids = _as_server_user()
        if ids:
            os.chown(self.root, *ids)
            os.chown(self.socket, *ids)
        bin_dir = binaries()
        user = (lambda: (os.setgid(ids[1]), os.setuid(ids[0]))) if ids else None
        done = subprocess.run([os.path.join(bin_dir, "initdb"), "-D", self.data, "-U", USER, "--auth=trust",
                               "--no-sync", "-E", "UTF8"], preexec_fn=user, capture_output=True, text=True,
                              cwd=self.root)
        if done.returncode:
            raise RuntimeError("initdb failed:\n" + done.stdout + done.stderr)
        self.log = open(os.path.join(self.root, "server.log"), "w")
        # fsync off: a test's database need not survive a power cut; it makes each commit cheap
        self.proc = subprocess.Popen([os.path.join(bin_dir, "postgres"), "-D", self.data, "-k", self.socket,
                                      "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200"],
                                     preexec_fn=user, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root)
        self.wait_ready()

    def wait_ready(self, timeout=30):
        import psycopg
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(host=self.socket, user=USER, dbname="postgres").close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start:\n" + open(self.log.name).read()) from None
                time.sleep(0.1)

    def url(self, database):
        return f"postgresql://{USER}@/{database}?host={self.socket}"

    def create_database(self, name):
        import psycopg
        with psycopg.connect(host=self.socket, user=USER, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: disconnect the clients, stop
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def start():
    return Server()
