"""Reading and writing files safely: checks before the work, atomic writes, one-line failures.

Every input file (photos, paintings, videos, models, VGG16 weights, ``--config`` files) is checked
by :func:`read_problem` before it is opened, so a missing file, a folder, a broken link or an
unreadable file is named as what it is whichever command reads it (a model path that is a folder
used to read "not a Keras model file", because ``zipfile.is_zipfile`` swallows the error).

Every file transformnet writes (stylized photos, videos, exported models, training checkpoints,
loss logs) goes through :func:`atomic_write`, so one rule covers them all:

- :func:`check_writable` runs before any work starts and catches what can be known in advance:
  a parent that is a regular file, a folder that cannot be written (permissions, read-only
  mount, immutable flag; ``os.access`` asks the kernel, so it also holds for root), a file name
  too long for the file system (a long photo name plus ``_model.jpg``).
- :func:`atomic_write` writes a temporary file in the target folder, flushes it to disk and
  renames it over the target only when complete. What can only fail while writing (disk full,
  file-size limit, quota, a target that cannot be replaced) becomes one :class:`WriteError`
  naming the target; the temporary file is removed and an existing target is left untouched.
- A temporary's name carries its writer's pid and host (:func:`make_temporary`), so one left
  by a killed job (``kill -9``, the OOM killer: a half-written video can be gigabytes) is
  removed by the next job that writes into that folder on that host, and a live job's never is.
- Paths are made absolute without ``os.path.abspath``'s lexical clean-up (:func:`absolute`):
  ``link/../out`` is where the kernel says, so the temporary, the check before the work and the
  folders removed after a failure are all in the folder the output really goes to.
- Every writer says whether it may replace an existing target (``replace``: ``--force``, or a
  checkpoint of the same step). The check before the work cannot see a target that appears
  while the job runs (a second ``train.py --name starry`` finishing first, two eval.py runs on
  one folder); :func:`publish` refuses to replace one then too, so hours of training never
  silently replace another run's model and no job's result is lost (it stays as it was).
"""

import contextlib
import errno
import hashlib
import os
import re
import socket
import tempfile

STOPS_EVERYTHING = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
"""Write failures that will fail every following file too (a full disk, a quota, a read-only
mount, a file-size limit): a batch stops at the first one instead of stylizing in vain."""


def write_failure_named_in(text):
    """The errno of the ``STOPS_EVERYTHING`` failure that ``text`` names in the OS's own words,
    else None. TensorFlow's savers ("...; No space left on device [Op:SaveV2]") and ffmpeg report a
    full disk as text, not as an OSError; this turns it back into the one line an OSError gets."""
    return next((number for number in sorted(STOPS_EVERYTHING) if os.strerror(number) in text), None)


class WriteError(Exception):
    """An output that cannot be written; ``str()`` is one line naming the file. ``errno`` is the
    operating system's error number when there is one."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.errno = code


def describe(error):
    """A short reason for ``error``: the OS's words for OSErrors, else its first line."""
    if isinstance(error, OSError) and error.errno is not None:
        return os.strerror(error.errno)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160]}" if text else type(error).__name__


def read_problem(path):
    """Why ``path`` cannot be read as an input file, in a few words, or None when it can.

    Checked in the order that names the real cause: a FIFO or device is refused before ``open``
    (opening a FIFO would block); permission is tried with ``open`` itself, which also sees what
    ``os.access`` does not (ACLs, network file systems).
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return "no such file"
    if not os.path.exists(path):
        return f"broken link (to {os.readlink(path)})"
    if os.path.isdir(path):
        return "is a folder, not a file"
    if not os.path.isfile(path):
        return "not a regular file"
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        return f"cannot be read ({describe(error)})"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    return None


def check_writable(path):
    """Raises WriteError unless ``path`` can be created or replaced: its nearest existing
    ancestor must be a writable folder and ``path`` itself must not be a folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise WriteError(f"{path}: is a folder, not a file")
    ancestor = os.path.dirname(absolute(path))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise WriteError(f"{path}: cannot write: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise WriteError(f"{path}: cannot write: folder {ancestor} is not writable", errno.EACCES)
    try:
        longest = os.pathconf(ancestor, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or the file system does not say
        longest = 255
    if len(os.fsencode(os.path.basename(path))) > longest:
        raise WriteError(f"{path}: file name longer than the {longest} bytes this file system allows", errno.ENAMETOOLONG)


def atomic_write(path, write, *, replace):
    """Calls ``write(tmp_path)``, then moves the finished temporary file onto ``path``
    (:func:`publish`; an existing ``path`` is replaced only if ``replace``).

    Raises WriteError (one line naming ``path``) if the folder cannot be made or the file cannot
    be written; no temporary file is left behind and an existing ``path`` is unchanged.
    """
    path = os.fspath(path)
    try:
        tmp, made = make_temporary(os.path.dirname(absolute(path)), suffix=os.path.splitext(path)[1])
    except OSError as error:
        raise WriteError(f"{path}: cannot write ({describe(error)})", error.errno) from None
    try:
        result = write(tmp)
        if os.path.isfile(tmp):  # on disk before the rename: a crash leaves the old file or the new
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        # mkstemp creates 0600; give the result the permissions a normal new file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        publish(tmp, path, replace=replace)
        return result
    except BaseException as error:
        _remove(tmp)
        remove_empty_folders(made)  # a full disk at the first photo left an empty --output folder
        if isinstance(error, OSError):
            raise WriteError(f"{path}: cannot write ({describe(error)})", error.errno) from None
        raise


def make_temporary(folder, suffix="", *, is_folder=False):
    """Makes ``folder`` (with its missing parents) and a new temporary file, or folder, in it;
    returns ``(its path, the folders made)``. On failure the folders made are removed again.

    The name is ``.tmp-PID-HOST-...`` (HOST: a short hash of who numbers PID, :func:`_host`); the first one made
    in a folder removes that folder's temporaries of dead processes of this host
    (:func:`_remove_dead_temporaries`). Tried twice: another job whose write failed removes the
    empty folders it made, possibly between this ``makedirs`` and ``mkstemp`` (as in
    :func:`folder_lock`)."""
    for attempt in range(2):
        made = new_folders(folder)
        try:
            os.makedirs(folder, exist_ok=True)
            real = os.path.realpath(folder)  # tempfile cleans paths with abspath: link/.. would go astray
            _remove_dead_temporaries(real)
            prefix = f".tmp-{os.getpid()}-{_HOST}-"
            if is_folder:
                return tempfile.mkdtemp(prefix=prefix, dir=real), made
            handle, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=real)
            os.close(handle)
            return tmp, made
        except OSError as error:
            remove_empty_folders(made)
            if attempt or not isinstance(error, FileNotFoundError):
                raise


def _host():
    """Who numbers this process's pid, hashed for a temporary's name: the host's name and, on
    Linux, its boot and PID namespace. Containers that share the host's name (``--network host``,
    Kubernetes' ``hostNetwork``) writing to one mounted folder each number their processes on
    their own: by the name alone, another container's live writer looked dead and its temporary
    was removed mid-write. The cost: a temporary left before a reboot is never removed."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        with open("/proc/sys/kernel/random/boot_id") as handle:
            parts.append(handle.read().strip())
    with contextlib.suppress(OSError):
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:6]


_HOST = _host()
_TEMPORARY = re.compile(r"\.tmp-(\d+)-([0-9a-f]{6})-")
_swept = set()


def _remove_dead_temporaries(folder):
    """Removes the temporaries in ``folder`` (a real path) that a process of this host left when it
    was killed (its pid no longer runs), once per folder and process. Another host's or container's
    are kept (its pids mean nothing here), and so is one whose pid runs again (reused: kept, never
    wrongly removed)."""
    if folder in _swept:
        return
    _swept.add(folder)
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = _TEMPORARY.match(entry.name)
            if match and match[2] == _HOST and not _running(int(match[1])):
                _remove(entry.path)


def _running(pid):
    if pid == os.getpid() or os.name != "posix":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: another user's live process; else keep it
        pass
    return True


def publish(tmp, path, *, replace):
    """Moves the finished file or folder ``tmp`` onto ``path``, the one place outputs appear.

    ``replace``: an existing ``path`` is replaced (a file atomically; a folder is swapped).
    Otherwise an existing ``path`` is left as it is and WriteError says so, even one that
    appeared after the check before the work: a file is published with a hard link, which fails
    instead of replacing (a file system without hard links gets a last look instead); a folder
    is renamed, which POSIX refuses onto a file or a non-empty folder.
    """
    tmp, path = os.fspath(tmp), os.fspath(path)
    if replace:
        _replace(tmp, path)
        return
    try:
        if os.path.isdir(tmp):
            _rename_folder(tmp, path)
        else:
            _link(tmp, path)
    except FileExistsError:
        raise WriteError(f"{path}: appeared while this job ran (another job writing the same name?); "
                         "left as it is, use --force to replace it", errno.EEXIST) from None


def _link(tmp, path):
    """Gives the file ``tmp`` the name ``path`` unless that name exists, then drops ``tmp``."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares): look once more, then rename
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path) from None
        os.replace(tmp, path)
        return
    os.remove(tmp)


def _rename_folder(tmp, path):
    if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    try:
        os.rename(tmp, path)  # onto an empty folder it replaces it: nothing is lost
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path) from None
        raise


def _replace(tmp, path):
    """A file is replaced atomically. A folder (SavedModel) cannot be: it is moved aside into a
    fresh hidden folder beside it (a fixed ``PATH.old`` would delete a user's folder of that
    name), ``tmp`` takes its name and then the old one is deleted; put back if that fails."""
    if not (os.path.isdir(path) and not os.path.islink(path)):
        os.replace(tmp, path)
        return
    import shutil
    import tempfile

    # Not a make_temporary name: after a kill between the two moves this holds the only old copy.
    aside = tempfile.mkdtemp(prefix=".tmp-old-", dir=os.path.realpath(os.path.dirname(absolute(path))))
    old = os.path.join(aside, os.path.basename(path))
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old, path)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


class FolderBusy(Exception):
    """Another live process holds the folder's lock; ``str()`` says which (pid and host)."""


@contextlib.contextmanager
def folder_lock(folder):
    """Holds an exclusive lock on ``folder`` (the file ``.lock`` in it) inside the block, or
    raises FolderBusy at once when another process holds it (WriteError, naming ``.lock``, when
    the holder's pid cannot be written in it: a full disk). ``fcntl.flock`` dies with its
    process, so a killed job leaves no stale lock to clean up; where there is no ``fcntl``
    (Windows) the block runs unlocked. Folders it made that hold nothing but the lock at the
    end (a run that stopped on bad photos before writing anything) are removed with it."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock = os.path.join(folder, ".lock")
    for attempt in range(2):  # a run ending in the same folder may remove it between the two calls
        made = new_folders(folder)
        os.makedirs(folder, exist_ok=True)
        try:
            handle = open(lock, "a+")
            break
        except FileNotFoundError:
            if attempt:
                raise
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise FolderBusy(handle.read().strip() or "another process") from None
        try:
            try:  # unbuffered: a write that fails (a full disk) is not tried again when the handle closes
                os.ftruncate(handle.fileno(), 0)
                os.write(handle.fileno(), f"pid {os.getpid()} on {socket.gethostname()}".encode())
            except OSError as error:  # it carries no file name: train.py said "error: output: ..."
                raise WriteError(f"{lock}: cannot write ({describe(error)})", error.errno) from None
            yield
        finally:
            os.ftruncate(handle.fileno(), 0)  # the lock goes with the handle; the empty file stays
            if made and os.listdir(folder) == [".lock"]:
                os.remove(lock)  # while still held: a run starting now gets FolderBusy, not an orphan
                remove_empty_folders(made)


def remove_empty_folders(made):
    """Removes the folders ``made`` (``new_folders``, deepest first) that are empty; one that is
    not (another photo's output is in it) stays."""
    for new in made:
        with contextlib.suppress(OSError):
            os.rmdir(new)


def absolute(path):
    """``path`` made absolute, with ``..`` and symbolic links left for the kernel to resolve:
    ``os.path.abspath("link/../out")`` is ``./out``, while ``open`` and ``makedirs`` use the folder
    above the link's target."""
    path = os.path.join(os.getcwd(), os.fspath(path))
    return path.rstrip(os.sep) or os.sep


def new_folders(folder):
    """The folders ``os.makedirs(folder)`` would make, deepest first."""
    made, folder = [], absolute(folder)
    while not os.path.lexists(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    return made


def _remove(tmp):
    try:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.remove(tmp)
    except OSError:
        pass  # nothing more can be done; the name starts with .tmp- so it is recognisable
